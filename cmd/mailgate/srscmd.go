package main

import (
	"flag"
	"fmt"
	"io"

	"mailgate/srs"
)

const srsUsage = `usage: mailgate srs rotate [-config FILE]

Puts a new SRS secret first in DATA_DIR/srs.keys: forwarded mail is
rewritten with it from then on (a running server rereads the file within
a second). The previous three secrets stay, so bounces to addresses made
before the rotation still find their way back; rotate at most once a week
with the default srs_max_age of 21 days.
`

// srsCommand runs "mailgate srs rotate".
func srsCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprint(stderr, srsUsage)
		return 2
	}
	fs := flag.NewFlagSet("srs rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, srsUsage) }
	cfgPath := configFlag(fs)
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 {
		return 2
	}
	cfg, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return 1
	}
	if err := srs.Rotate(cfg.DataDir); err != nil {
		fmt.Fprintf(stderr, "mailgate srs rotate: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "new SRS key in %s/%s; the previous keys still verify\n", cfg.DataDir, srs.KeysName)
	return 0
}
