package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestHelp: the tool and each load tool answer -h on stdout with exit 0;
// no tool or an unknown one is a usage error.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-h"}, 0, "usage: mailgate-bench send|sink|imap"},
		{[]string{"send", "-h"}, 0, "Usage of mailgate-bench send"},
		{[]string{"sink", "--help"}, 0, "Usage of mailgate-bench sink"},
		{[]string{"imap", "-h"}, 0, "Usage of mailgate-bench imap"},
		{nil, 2, ""},
		{[]string{"nosuch"}, 2, ""},
	} {
		var out, errOut bytes.Buffer
		code := benchCommand(tc.args, &out, &errOut)
		if code != tc.code || !strings.HasPrefix(out.String(), tc.want) {
			t.Errorf("mailgate-bench %v: exit %d, stdout %q", tc.args, code, out.String())
		}
		if tc.code == 2 && !strings.HasPrefix(errOut.String(), "usage: mailgate-bench") {
			t.Errorf("mailgate-bench %v: stderr %q", tc.args, errOut.String())
		}
	}
}

// TestRefusesRemoteAddress: the load tools talk to loopback only.
func TestRefusesRemoteAddress(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := benchCommand([]string{"send", "-addr", "192.0.2.1:25", "-n", "1"}, &out, &errOut); code == 0 {
		t.Fatalf("send to 192.0.2.1: exit 0, stderr %q", errOut.String())
	}
}
