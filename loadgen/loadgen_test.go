package loadgen

import (
	"strings"
	"testing"
	"time"
)

// TestSendToSink runs the load tool against the sink over loopback and
// checks that every message arrived whole and was counted once.
func TestSendToSink(t *testing.T) {
	t.Parallel()
	for _, reuse := range []bool{false, true} {
		s, err := StartSink(SinkOptions{Addr: "127.0.0.1:0", MaxDuration: time.Minute, SaveDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Send(SendOptions{Addr: s.Addr(), N: 30, Size: 4096, Concurrency: 4, Reuse: reuse,
			From: "a@localhost", To: []string{"b@sink.localhost"}})
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		st := s.Stats()
		if res.Sent != 30 || res.Failed != 0 || st.Messages != 30 {
			t.Fatalf("reuse=%v: sent %d, failed %d (%v), sink counted %d; want 30, 0, 30", reuse, res.Sent, res.Failed, res.Errors, st.Messages)
		}
		if per := st.Bytes / 30; per < 4000 || per > 4400 {
			t.Errorf("reuse=%v: %d bytes per message at the sink, want about 4096", reuse, per)
		}
		if res.Latency.Count != 30 || res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 {
			t.Errorf("reuse=%v: latency summary %+v", reuse, res.Latency)
		}
	}
}

// TestSendCountsReplyCodes checks that a refused transaction is counted by
// its reply code: the sink stops after 5 messages, the rest fail.
func TestSendCountsReplyCodes(t *testing.T) {
	t.Parallel()
	s, err := StartSink(SinkOptions{Addr: "127.0.0.1:0", MaxMessages: 5, MaxDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res, err := Send(SendOptions{Addr: s.Addr(), N: 10, Size: 1000, Concurrency: 1,
		From: "a@localhost", To: []string{"b@sink.localhost"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 5 || res.Failed != 5 {
		t.Fatalf("sent %d failed %d (%v); want 5 and 5", res.Sent, res.Failed, res.Errors)
	}
}

func TestLoopbackOnly(t *testing.T) {
	t.Parallel()
	_, err := Send(SendOptions{Addr: "192.0.2.1:25", N: 1, Concurrency: 1, From: "a@x", To: []string{"b@y"}})
	if err == nil || !strings.Contains(err.Error(), "only loopback") {
		t.Fatalf("send to 192.0.2.1: %v; want the loopback refusal", err)
	}
	if _, err := StartSink(SinkOptions{Addr: "0.0.0.0:0"}); err == nil {
		t.Fatal("sink on 0.0.0.0 started; want a refusal")
	}
}

func TestSummarise(t *testing.T) {
	t.Parallel()
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	l := summarise(d)
	if l.P50 != 50 || l.P90 != 90 || l.P99 != 99 || l.Max != 100 || l.Count != 100 {
		t.Fatalf("summarise 1..100ms = %+v; want p50 50, p90 90, p99 99, max 100", l)
	}
}
