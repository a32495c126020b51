package queue

import (
	"fmt"
	"strings"
	"time"
)

// dsnHumanText is the part people read: what happened to which recipient,
// in plain words, with the remote server's reply.
func dsnHumanText(in DSNInput) string {
	var b strings.Builder
	fmt.Fprintf(&b, "This is the mail system at %s.\r\n\r\n", dsnClean(in.ReportingMTA))
	groups := []struct{ action, intro string }{
		{DSNFailed, "Your message could not be delivered to the recipients below.\r\nThis is a permanent error; it will not be retried."},
		{DSNDelayed, "Your message has not yet been delivered to the recipients below.\r\nIt is still being retried; you need not send it again."},
		{DSNDelivered, "Your message was delivered to the recipients below."},
		{DSNRelayed, "Your message was passed on to the servers of the recipients below.\r\nThose servers do not send delivery reports, so no further report will come."},
	}
	for _, g := range groups {
		var lines []string
		for _, r := range in.Recipients {
			if r.Action == g.action {
				lines = append(lines, dsnHumanLine(r))
			}
		}
		if len(lines) == 0 {
			continue
		}
		b.WriteString(g.intro + "\r\n\r\n")
		for _, l := range lines {
			b.WriteString(l)
		}
		b.WriteString("\r\n")
	}
	if strings.EqualFold(in.Ret, "FULL") {
		b.WriteString("Your message is attached.\r\n")
	} else {
		b.WriteString("The headers of your message are attached.\r\n")
	}
	return b.String()
}

func dsnHumanLine(r DSNRecipient) string {
	var b strings.Builder
	fmt.Fprintf(&b, "<%s>", dsnClean(r.FinalRecipient))
	if d := dsnClean(r.Diagnostic); d != "" {
		d = dsnTrunc(d)
		if r.RemoteMTA != "" {
			fmt.Fprintf(&b, ": %s said: %s", dsnClean(r.RemoteMTA), d)
		} else {
			b.WriteString(": " + d)
		}
	}
	b.WriteString("\r\n")
	if r.Action == DSNDelayed && !r.WillRetryUntil.IsZero() {
		fmt.Fprintf(&b, "    (retried until %s)\r\n", r.WillRetryUntil.Format(time.RFC1123Z))
	}
	return b.String()
}
