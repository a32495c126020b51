package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"mailgate/sieve"
)

const sieveUsage = `usage: mailgate sieve check FILE
       mailgate sieve test FILE MESSAGE [--from ADDR] [--to ADDR]

check parses a Sieve script and prints FILE:LINE:COLUMN: problem, or ok.
test runs the script on a message file (as local delivery would, for the
envelope --from and --to) and prints the actions it would take, one a
line, without doing any of them.
`

// sieveCommand runs `mailgate sieve check|test`.
func sieveCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, sieveUsage)
		return 2
	}
	fs := flag.NewFlagSet("sieve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, sieveUsage) }
	from := fs.String("from", "", "envelope sender (MAIL FROM) of the test message")
	to := fs.String("to", "", "envelope recipient (RCPT TO) of the test message")
	pos, ok := parseInterleaved(fs, args[1:])
	if !ok {
		return 2
	}
	switch {
	case args[0] == "check" && len(pos) == 1:
		_, code := loadScript(pos[0], stdout, stderr)
		if code == 0 {
			fmt.Fprintf(stdout, "%s: ok\n", pos[0])
		}
		return code
	case args[0] == "test" && len(pos) == 2:
		return sieveTest(pos[0], pos[1], sieve.Envelope{From: *from, To: *to}, stdout, stderr)
	}
	fmt.Fprint(stderr, sieveUsage)
	return 2
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, bool) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, true
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

// loadScript reads and parses a script; problems go to stderr as
// FILE:LINE:COLUMN: message.
func loadScript(path string, stdout, stderr io.Writer) (*sieve.Script, int) {
	src, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "mailgate sieve: %v\n", err)
		return nil, 1
	}
	s, err := sieve.Parse(src, 0)
	var se *sieve.Error
	if errors.As(err, &se) {
		fmt.Fprintf(stderr, "%s:%d:%d: %s\n", path, se.Pos.Line, se.Pos.Col, se.Msg)
		return nil, 1
	}
	if err != nil {
		fmt.Fprintf(stderr, "mailgate sieve: %s: %v\n", path, err)
		return nil, 1
	}
	return s, 0
}

func sieveTest(scriptPath, msgPath string, env sieve.Envelope, stdout, stderr io.Writer) int {
	s, code := loadScript(scriptPath, stdout, stderr)
	if code != 0 {
		return code
	}
	raw, err := os.ReadFile(msgPath)
	if err != nil {
		fmt.Fprintf(stderr, "mailgate sieve: %v\n", err)
		return 1
	}
	res, err := s.Run(context.Background(), sieve.NewMessage(raw), sieve.RunOptions{Envelope: env,
		MailboxExists: func(string) bool { return true }})
	if err != nil {
		fmt.Fprintf(stderr, "%s: run-time error, the message would be kept in INBOX: %v\n", scriptPath, err)
		return 1
	}
	for _, a := range res.Actions {
		fmt.Fprintln(stdout, a.String())
	}
	return 0
}
