package imap

import (
	"context"
	"testing"
)

// TestThread: THREAD REFERENCES builds the reply tree from References
// and In-Reply-To (a missing parent becomes a dummy that holds its
// replies), joins roots by base subject, and sorts by sent date;
// ORDEREDSUBJECT groups by base subject; UID THREAD gives UIDs.
func TestThread(t *testing.T) {
	t.Parallel()
	env := startServer(t, nil)
	msgs := []string{
		"Message-ID: <a@x>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nSubject: plans\r\n\r\n1\r\n",
		"Message-ID: <b@x>\r\nIn-Reply-To: <a@x>\r\nDate: Mon, 1 Jan 2024 11:00:00 +0000\r\nSubject: Re: plans\r\n\r\n2\r\n",
		"Message-ID: <c@x>\r\nReferences: <a@x> <b@x>\r\nDate: Mon, 1 Jan 2024 12:00:00 +0000\r\nSubject: Re: plans\r\n\r\n3\r\n",
		"Message-ID: <d@x>\r\nReferences: <a@x>\r\nDate: Mon, 1 Jan 2024 13:00:00 +0000\r\nSubject: Re: plans\r\n\r\n4\r\n",
		"Message-ID: <e@x>\r\nReferences: <gone@x>\r\nDate: Sun, 31 Dec 2023 10:00:00 +0000\r\nSubject: other\r\n\r\n5\r\n",
		"Message-ID: <f@x>\r\nReferences: <gone@x>\r\nDate: Sun, 31 Dec 2023 11:00:00 +0000\r\nSubject: other\r\n\r\n6\r\n",
		"Message-ID: <g@x>\r\nDate: Tue, 2 Jan 2024 10:00:00 +0000\r\nSubject: Re: plans\r\n\r\n7\r\n",
	}
	for _, m := range msgs {
		env.store.Deliver(context.Background(), alice, "", []byte(m), false)
	}
	c := loginRaw(t, env)
	c.has("b SELECT INBOX\r\n", "b OK [READ-WRITE] SELECT completed")
	c.expect("c THREAD REFERENCES UTF-8 ALL\r\n", "* THREAD ((5)(6))(1 (2 3)(4)(7))", "c OK THREAD completed")
	c.expect("d THREAD ORDEREDSUBJECT UTF-8 ALL\r\n", "* THREAD (5 6)(1 (2)(3)(4)(7))", "d OK THREAD completed")
	c.expect("e UID THREAD REFERENCES UTF-8 1:3\r\n", "* THREAD (1 2 3)", "e OK UID THREAD completed")
	c.expect("f THREAD REFERENCES UTF-8 SUBJECT nothing\r\n", "* THREAD", "f OK THREAD completed")
	c.expect("g THREAD COLOURS UTF-8 ALL\r\n", `g BAD THREAD: unknown algorithm "COLOURS"; use REFERENCES or ORDEREDSUBJECT`)
}
