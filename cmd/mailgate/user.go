package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"mailgate/accounts"
	"mailgate/config"
)

const userUsage = `usage:
  mailgate user add ADDRESS [-config FILE] [--password-stdin] [--allow-short-password] [--alias A]... [--send-as S]... [--quota SIZE] [--rate-limit R]
  mailgate user del ADDRESS [-config FILE]
  mailgate user list [-config FILE]
  mailgate user passwd ADDRESS [-config FILE] [--password-stdin] [--allow-short-password]
  mailgate user update ADDRESS [-config FILE] [--alias A]... [--send-as S]... [--quota SIZE] [--rate-limit R]
--send-as takes an address (noreply@example.com) or a whole domain (@example.com).
--rate-limit gives the account its own sending limit instead of filters.ratelimit's:
  MESSAGES/PERIOD or MESSAGES,RECIPIENTS/PERIOD (20000/1m, 20000,100000/1m), or
  "default" to return to the configured one.
Passwords have at least 8 characters unless --allow-short-password is given.
Accounts live in DATA_DIR/accounts.yaml; a running server picks changes up.
`

// minPassword is the shortest password user add and passwd take without
// --allow-short-password.
const minPassword = 8

// userOpts are a user subcommand's flags and what they apply to.
type userOpts struct {
	cfg        *config.Config
	aliases    []string
	sendAs     []string
	quota      int64 // -1: not given
	pwStdin    bool
	allowShort bool
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// userCommand manages accounts.yaml; a running server picks changes up.
func userCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, userUsage)
		return 2
	}
	verb, rest := args[0], args[1:]
	var addr string
	if verb != "list" {
		if len(rest) == 0 || strings.HasPrefix(rest[0], "-") {
			fmt.Fprint(stderr, userUsage)
			return 2
		}
		addr, rest = rest[0], rest[1:]
	}
	fs := flag.NewFlagSet("user "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	pwStdin := fs.Bool("password-stdin", false, "read the password from standard input")
	allowShort := fs.Bool("allow-short-password", false, fmt.Sprintf("take a password shorter than %d characters", minPassword))
	var aliases, sendAs listFlag
	fs.Var(&aliases, "alias", "an address delivered to this account (repeatable)")
	fs.Var(&sendAs, "send-as", "an address or @domain this account may send as (repeatable)")
	quota := fs.String("quota", "", "storage limit, such as 2GB (default: mailbox.default_quota)")
	rate := fs.String("rate-limit", "", "own sending limit: MESSAGES[,RECIPIENTS]/PERIOD, or default")
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	rl, err := parseRateLimit(*rate)
	if err != nil {
		fmt.Fprintln(stderr, "mailgate: --rate-limit:", err)
		return 2
	}
	cfg, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return 1
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		fmt.Fprintln(stderr, "mailgate:", err)
		return 1
	}
	accts, err := accounts.OpenAccounts(cfg.DataDir)
	if err != nil {
		fmt.Fprintln(stderr, "mailgate:", err)
		return 1
	}
	q := int64(-1)
	if *quota != "" {
		if q, err = config.ParseSize(*quota); err != nil {
			fmt.Fprintln(stderr, "mailgate: --quota:", err)
			return 2
		}
	}
	o := userOpts{cfg: cfg, aliases: aliases, sendAs: sendAs, quota: q, pwStdin: *pwStdin, allowShort: *allowShort}
	err = userVerb(verb, addr, accts, o, stdin, stdout, stderr)
	if err == nil && *rate != "" && (verb == "add" || verb == "update") {
		err = accts.SetRateLimit(addr, rl)
	}
	if err != nil {
		fmt.Fprintln(stderr, "mailgate:", err)
		return 1
	}
	return 0
}

func userVerb(verb, addr string, accts *accounts.Accounts, o userOpts, stdin io.Reader, stdout, stderr io.Writer) error {
	aliases, sendAs, quota := o.aliases, o.sendAs, o.quota
	switch verb {
	case "add":
		pw, err := newPassword(o, stdin, stderr)
		if err != nil {
			return err
		}
		acc := accounts.Account{Address: addr, Aliases: aliases, SendAs: sendAs}
		if quota > 0 {
			acc.Quota = quota
		}
		if err := accts.Add(acc, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s to %s\n", addr, accts.Path())
		warnNotLocal(o.cfg, addr, stderr)
	case "del":
		if err := accts.Delete(addr); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s (its stored mail is kept)\n", addr)
	case "passwd":
		pw, err := newPassword(o, stdin, stderr)
		if err != nil {
			return err
		}
		if err := accts.SetPassword(addr, pw); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password changed for %s in %s\n", addr, accts.Path())
	case "update":
		var al, sa []string
		if len(aliases) > 0 {
			al = aliases
		}
		if len(sendAs) > 0 {
			sa = sendAs
		}
		if err := accts.Update(addr, al, sa, quota); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "updated %s\n", addr)
	case "list":
		for _, a := range accts.List() {
			fmt.Fprintf(stdout, "%s\taliases=%s\tsend_as=%s%s\n", a.Address, strings.Join(a.Aliases, ","), strings.Join(a.SendAs, ","), rateLimitText(a.RateLimit))
		}
	default:
		return fmt.Errorf("unknown user command %q\n%s", verb, userUsage)
	}
	return nil
}

// newPassword reads a new password and refuses a short one unless the
// operator said --allow-short-password.
func newPassword(o userOpts, stdin io.Reader, stderr io.Writer) (string, error) {
	pw, err := readPassword(o.pwStdin, stdin, stderr)
	if err != nil {
		return "", err
	}
	if n := utf8.RuneCountInString(pw); n < minPassword && !o.allowShort {
		return "", fmt.Errorf("the password has %d characters; give at least %d, or add --allow-short-password if you mean it", n, minPassword)
	}
	return pw, nil
}

// warnNotLocal tells the operator when an account's domain is not one of
// local_domains: the account can log in and send, but mail to it is not
// delivered here.
func warnNotLocal(cfg *config.Config, addr string, stderr io.Writer) {
	domain := addr[strings.LastIndexByte(addr, '@')+1:]
	for _, d := range cfg.LocalDomains {
		if strings.EqualFold(strings.TrimSuffix(d, "."), domain) {
			return
		}
	}
	fmt.Fprintf(stderr, "mailgate: warning: %s is not in local_domains of %s (%s): %s can log in and send, "+
		"but mail to it is not delivered here; add %s to local_domains if it should be\n",
		domain, cfg.File, strings.Join(cfg.LocalDomains, ", "), addr, domain)
}

// readPassword prompts twice without echo on a terminal, or reads one line
// from stdin with --password-stdin.
func readPassword(fromStdin bool, stdin io.Reader, stderr io.Writer) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return "", errors.New("no password on standard input")
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("empty password")
		}
		return pw, nil
	}
	fd := int(os.Stdin.Fd())
	if !term.IsTerminal(fd) {
		return "", errors.New("standard input is not a terminal; use --password-stdin")
	}
	fmt.Fprint(stderr, "Password: ")
	a, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	fmt.Fprint(stderr, "Again: ")
	b, err := term.ReadPassword(fd)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", err
	}
	if string(a) != string(b) || len(a) == 0 {
		return "", errors.New("passwords are empty or do not match")
	}
	return string(a), nil
}

// parseRateLimit reads --rate-limit: "" (not given), "default" (nil), or
// MESSAGES[,RECIPIENTS]/PERIOD.
func parseRateLimit(s string) (*accounts.RateLimit, error) {
	if s == "" || s == "default" {
		return nil, nil
	}
	counts, period, ok := strings.Cut(s, "/")
	msgs, rcpts, _ := strings.Cut(counts, ",")
	var rl accounts.RateLimit
	var err error
	if ok {
		rl.Period, err = time.ParseDuration(period)
	}
	if err == nil {
		rl.Messages, err = strconv.Atoi(msgs)
	}
	if err == nil && rcpts != "" {
		rl.Recipients, err = strconv.Atoi(rcpts)
	}
	if !ok || err != nil || !rl.Valid() || rl.Messages == 0 && rl.Recipients == 0 {
		return nil, fmt.Errorf("%q: write MESSAGES/PERIOD or MESSAGES,RECIPIENTS/PERIOD with a period such as 1m (20000/1m), or default", s)
	}
	return &rl, nil
}

// rateLimitText is how `user list` shows an account's own limit.
func rateLimitText(rl *accounts.RateLimit) string {
	if rl == nil {
		return ""
	}
	return fmt.Sprintf("\trate_limit=%d,%d/%v", rl.Messages, rl.Recipients, rl.Period)
}
