package mailmsg

import (
	"errors"
	"fmt"
	"testing"
)

func TestDomain(t *testing.T) {
	for in, want := range map[string]string{
		"a@Example.COM": "example.com", "a@example.com.": "example.com",
		"\"x@y\"@b.test": "b.test", "postmaster": "", "": "",
	} {
		if got := Domain(in); got != want {
			t.Errorf("Domain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClean(t *testing.T) {
	for in, want := range map[string]string{
		"plain":               "plain",
		"a\r\nRCPT TO:<x>":    "a  RCPT TO:<x>",
		"tab\there\x00\x7f":   "tab here  ",
		"ünïcode stays\u2028": "ünïcode stays\u2028",
	} {
		if got := Clean(in); got != want {
			t.Errorf("Clean(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestErrorAs(t *testing.T) {
	cause := errors.New("boom")
	var err error = fmt.Errorf("wrapped: %w", &Error{Permanent: true, Code: 550, Enhanced: "5.1.1", Command: CmdRcpt, RemoteLine: "550 5.1.1 no such user", Err: cause})
	var de *Error
	if !errors.As(err, &de) || !de.Permanent || de.Diagnostic() != "550 5.1.1 no such user" || !errors.Is(err, cause) {
		t.Fatalf("errors.As: %v %+v", err, de)
	}
	if got := (&Error{Code: 451, Enhanced: "4.4.1", Command: CmdConnect, RemoteMTA: "mx.test", Reason: "refused"}).Error(); got != "CONNECT mx.test: 451 4.4.1 refused" {
		t.Errorf("Error() = %q", got)
	}
}

func TestAllFail(t *testing.T) {
	a := &Attempt{Envelope: &Envelope{ID: "x", Recipients: []Recipient{{Addr: "a@x"}, {Addr: "b@x"}}}, Recipients: []Recipient{{Addr: "b@x"}}}
	res := AllFail(a, errors.New("no"))
	if len(res) != 1 || res[0].Rcpt != "b@x" || res[0].Err == nil {
		t.Fatalf("AllFail = %+v", res)
	}
}
