package config

import (
	"fmt"
	"strings"
	"testing"
)

func TestLMTPConfig(t *testing.T) {
	t.Parallel()
	c, err := Parse("t.yaml", []byte("listeners:\n  - name: lmtp\n    protocol: lmtp\n    address: unix:/run/mailgate/lmtp\n    socket_mode: \"0660\"\n    socket_owner: root\n"+
		"  - name: lmtp-tcp\n    protocol: lmtp\n    address: 127.0.0.1:24\ndelivery:\n  local:\n    lmtp: unix:/run/dovecot/lmtp\n"), openFilters{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Delivery.Local.LMTP != "unix:/run/dovecot/lmtp" || c.Listeners[0].SocketMode != "0660" || !IsSMTP(c.Listeners[1].Protocol) {
		t.Errorf("parsed %+v %+v", c.Delivery.Local, c.Listeners)
	}
}

func TestLMTPConfigErrors(t *testing.T) {
	t.Parallel()
	l := "listeners:\n  - name: l\n    protocol: %s\n    address: %s\n"
	for _, tc := range []struct{ yaml, want string }{
		{"delivery:\n  local:\n    lmtp: dovecot\n", "t.yaml:3: delivery.local.lmtp: \"dovecot\" is neither unix:/path nor host:port"},
		{"delivery:\n  local:\n    lmtp: unix:run/lmtp\n", "t.yaml:3: delivery.local.lmtp: \"unix:run/lmtp\" is not an absolute socket path"},
		{"delivery:\n  local:\n    lmpt: x\n", "t.yaml:3: delivery.local.lmpt: unknown key"},
		{fmt.Sprintf(l, "smtp", "unix:/run/x"), "t.yaml:4: listeners[0].address: only an lmtp listener may listen on a UNIX socket"},
		{fmt.Sprintf(l, "lmtp", "unix:x"), "t.yaml:4: listeners[0].address: \"unix:x\" is not an absolute socket path"},
		{fmt.Sprintf(l, "lmtp", "unix:/run/x") + "    socket_mode: \"999\"\n", "t.yaml:5: listeners[0].socket_mode: \"999\" is not a file mode"},
		{fmt.Sprintf(l, "lmtp", "unix:/run/x") + "    socket_owner: no-such-user-here\n", "t.yaml:5: listeners[0].socket_owner: no user \"no-such-user-here\" on this machine"},
		{fmt.Sprintf(l, "lmtp", "127.0.0.1:24") + "    socket_mode: \"0660\"\n", "t.yaml:5: listeners[0].socket_mode: only a unix: address has a file mode"},
		{fmt.Sprintf(l, "lmtp", "unix:/run/x") + "  - name: m\n    protocol: lmtp\n    address: unix:/run/x\n",
			"t.yaml:7: listeners[1].address: unix:/run/x is already used by listeners[0]; give each listener its own socket"},
		{fmt.Sprintf(l, "lmtpx", "127.0.0.1:24"), "write one of smtp, submission, submissions, lmtp,"},
	} {
		_, err := Parse("t.yaml", []byte(tc.yaml), openFilters{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
