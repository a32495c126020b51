package imap

import (
	"strings"
	"testing"
)

// TestListSubscribed: LSUB with "%" shows an unsubscribed parent of a
// subscribed folder as \Noselect (RFC 3501 §6.3.9); LIST (SUBSCRIBED)
// does not, but shows a deleted, still subscribed folder as
// \NonExistent; RECURSIVEMATCH gives the parent CHILDINFO (RFC 5258).
// LSUB and LIST pipelined are each answered by their own rules.
func TestListSubscribed(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	c := loginRaw(t, env)
	for _, cmd := range []string{"b CREATE p/c", "c SUBSCRIBE p/c", "d CREATE gone", "e SUBSCRIBE gone", "f DELETE gone"} {
		c.has(cmd+"\r\n", cmd[:2]+"OK "+strings.Fields(cmd)[1]+" completed")
	}
	c.expect("g LSUB \"\" p%\r\n", `* LSUB (\Noselect) "/" "p"`, "g OK LSUB completed")
	c.expect("h LIST (SUBSCRIBED) \"\" p%\r\n", "h OK LIST completed")
	c.expect("i LIST (SUBSCRIBED) \"\" g*\r\n", `* LIST (\Subscribed \NonExistent) "/" "gone"`, "i OK LIST completed")
	c.expect("j LIST (SUBSCRIBED RECURSIVEMATCH) \"\" p%\r\n",
		`* LIST (\HasChildren) "/" "p" (CHILDINFO ("SUBSCRIBED"))`, "j OK LIST completed")
	c.expect("k LIST (SUBSCRIBED RECURSIVEMATCH) \"\" p*\r\n", `* LIST (\HasNoChildren \Subscribed) "/" "p/c"`, "k OK LIST completed")
	c.send("l LIST (SUBSCRIBED) \"\" p%\r\nm LSUB \"\" p%\r\nn LIST (SUBSCRIBED) \"\" p%\r\n")
	if got := c.until("n "); len(got) != 4 || got[0] != "l OK LIST completed" || got[1] != `* LSUB (\Noselect) "/" "p"` ||
		got[2] != "m OK LSUB completed" || got[3] != "n OK LIST completed" {
		t.Errorf("pipelined LIST, LSUB, LIST:\n%q", got)
	}
}
