package queue

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkSpoolLifecycle is what the spool does for one message relayed
// on the first attempt: store it (fsync before 250), record the attempt,
// record the outcome, remove it. Run at several concurrencies: group
// commit should let the fsyncs of concurrent messages overlap.
func BenchmarkSpoolLifecycle(b *testing.B) {
	state := []byte(`{"recipients":[{"addr":"rcpt@example.org","state":"pending","attempts":1}]}`)
	for _, conc := range []int{1, 20, 100} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			s, _ := OpenSpool(b.TempDir(), nil)
			defer s.Close()
			raw := bytes.Repeat([]byte("x"), 4096)
			b.SetParallelism(conc)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					env := testEnv(0)
					if err := s.Write(env, raw); err != nil {
						b.Fatal(err)
					}
					for range 2 {
						if err := s.WriteState(env.ID, state); err != nil {
							b.Fatal(err)
						}
					}
					if err := s.Remove(env.ID); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
