package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"mailgate/config"
	"mailgate/console"
	"mailgate/queue"
)

const queueUsage = `usage: mailgate queue COMMAND [-config FILE] [--json]
  list [--domain D] [--state S] [--older-than 2h]
                            queued messages, one row per recipient; only those
                            with a recipient in domain D / in state S (pending,
                            deferred, held), received longer ago than the age
  show ID                   envelope, per-recipient history and headers
  flush [ID | --domain D]   retry deferred recipients now
  hold ID | release ID      stop / resume delivery attempts
  delete ID                 remove without telling the sender
  bounce ID                 give up now and send the sender a bounce
  import DIR                take over a dead node's spool (its data_dir/queue)
The commands talk to the running server's admin API on its http listener.
`

// queueCommand is the Postfix-style queue CLI (postqueue/postsuper).
func queueCommand(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, queueUsage)
		return 2
	}
	verb := args[0]
	var pos []string
	rest := args[1:]
	for len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		pos, rest = append(pos, rest[0]), rest[1:]
	}
	fs := flag.NewFlagSet("queue "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON for scripts")
	domain := fs.String("domain", "", "with list and flush: only recipients in this domain")
	state := fs.String("state", "", "with list: only messages with a recipient in this state (pending, deferred, held)")
	olderThan := fs.Duration("older-than", 0, "with list: only messages received longer ago than this (e.g. 2h)")
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	filter := url.Values{}
	for k, v := range map[string]string{"domain": *domain, "state": *state} {
		if v != "" {
			filter.Set(k, v)
		}
	}
	if *olderThan > 0 {
		filter.Set("older-than", olderThan.String())
	}
	pos = append(pos, fs.Args()...)
	cfg, ok := loadConfig(*cfgPath, stderr)
	if !ok {
		return 1
	}
	c, err := newAdminClient(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "mailgate:", err)
		return 1
	}
	if err := c.queueVerb(verb, pos, *domain, filter, *asJSON, stdout); err != nil {
		fmt.Fprintln(stderr, "mailgate:", err)
		return 1
	}
	return 0
}

func (c *adminClient) queueVerb(verb string, pos []string, domain string, filter url.Values, asJSON bool, out io.Writer) error {
	needID := func() (string, error) {
		if len(pos) != 1 {
			return "", fmt.Errorf("queue %s takes one message ID\n%s", verb, queueUsage)
		}
		return pos[0], nil
	}
	switch verb {
	case "list":
		var list []queue.MessageInfo
		path := "/admin/queue"
		if len(filter) > 0 {
			path += "?" + filter.Encode()
		}
		if err := c.do("GET", path, nil, &list); err != nil {
			return err
		}
		if asJSON {
			return printJSON(out, list)
		}
		printQueue(out, list, time.Now())
	case "show":
		id, err := needID()
		if err != nil {
			return err
		}
		var mi queue.MessageInfo
		if err := c.do("GET", "/admin/queue/"+url.PathEscape(id), nil, &mi); err != nil {
			return err
		}
		if asJSON {
			return printJSON(out, mi)
		}
		printMessage(out, mi)
	case "flush":
		v := map[string]string{}
		if len(pos) == 1 {
			v["id"] = pos[0]
		}
		if domain != "" {
			v["domain"] = domain
		}
		var res map[string]int
		if err := c.do("POST", "/admin/queue/flush", v, &res); err != nil {
			return err
		}
		if asJSON {
			return printJSON(out, res)
		}
		fmt.Fprintf(out, "%d recipient(s) scheduled for delivery now\n", res["flushed"])
	case "hold", "release", "delete", "bounce":
		id, err := needID()
		if err != nil {
			return err
		}
		var res map[string]string
		if err := c.do("POST", "/admin/queue/"+url.PathEscape(id)+"/"+verb, map[string]string{}, &res); err != nil {
			return err
		}
		if asJSON {
			return printJSON(out, res)
		}
		fmt.Fprintf(out, "%s: %s\n", id, map[string]string{"hold": "held", "release": "released", "delete": "deleted", "bounce": "bounced"}[verb])
	case "import":
		if len(pos) != 1 {
			return fmt.Errorf("queue import takes one directory\n%s", queueUsage)
		}
		return c.queueImport(pos[0], asJSON, out)
	default:
		return fmt.Errorf("unknown queue command %q\n%s", verb, queueUsage)
	}
	return nil
}

// queueImport asks the server to take over the spool in dir and prints
// what it did with each message, then the counts.
func (c *adminClient) queueImport(dir string, asJSON bool, out io.Writer) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	var res []queue.ImportResult
	if err := c.do("POST", "/admin/queue/import", map[string]string{"dir": abs}, &res); err != nil {
		return err
	}
	if asJSON {
		return printJSON(out, res)
	}
	counts := map[string]int{}
	for _, r := range res {
		counts[r.Result]++
		switch {
		case r.Result == queue.Imported:
			fmt.Fprintf(out, "%s: imported, %d recipient(s) to deliver\n", r.ID, r.Pending)
		case r.Detail != "":
			fmt.Fprintf(out, "%s: %s: %s\n", r.ID, r.Result, r.Detail)
		default:
			fmt.Fprintf(out, "%s: %s\n", r.ID, r.Result)
		}
	}
	fmt.Fprintf(out, "-- imported %d, already here %d, finished %d, broken %d, failed %d (of %d in %s)\n", counts[queue.Imported],
		counts[queue.AlreadyHere], counts[queue.WasFinished], counts[queue.Broken], counts[queue.Failed], len(res), abs)
	if counts[queue.Broken]+counts[queue.Failed] > 0 {
		return errors.New("some messages were not imported; they are still in " + abs)
	}
	return nil
}

func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printQueue(out io.Writer, list []queue.MessageInfo, now time.Time) {
	tw := tabwriter.NewWriter(out, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tAGE\tSIZE\tSENDER\tRECIPIENT\tSTATE\tATTEMPTS\tNEXT ATTEMPT\tLAST ERROR")
	for _, m := range list {
		from := m.From
		if from == "" {
			from = "<>"
		}
		for _, r := range m.Recipients {
			next := "-"
			if !r.NextAttempt.IsZero() && (r.State == queue.StateDeferred || r.State == queue.StatePending) {
				next = r.NextAttempt.Local().Format("2006-01-02 15:04:05")
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\n", m.ID, console.Age(now.Sub(m.Received)), m.Size,
				from, r.Addr, r.State, r.Attempts, next, truncate(r.LastError, 80))
		}
	}
	tw.Flush()
	fmt.Fprintf(out, "-- %d message(s)\n", len(list))
}

func printMessage(out io.Writer, m queue.MessageInfo) {
	from := m.From
	if from == "" {
		from = "<>"
	}
	fmt.Fprintf(out, "ID:       %s\nReceived: %s\nSender:   %s\nSize:     %d\nHeld:     %v\n", m.ID, m.Received.Format(time.RFC1123Z), from, m.Size, m.Held)
	for _, r := range m.Recipients {
		fmt.Fprintf(out, "\nRecipient: %s", r.Addr)
		if r.Orig != "" {
			fmt.Fprintf(out, " (for %s)", r.Orig)
		}
		fmt.Fprintf(out, "\n  state: %s, attempts: %d\n", r.State, r.Attempts)
		for _, h := range r.History {
			fmt.Fprintf(out, "  %s %s %s\n", h.Time.Format(time.RFC3339), h.Result, h.Detail)
		}
	}
	fmt.Fprintf(out, "\nHeaders:\n%s", strings.ReplaceAll(m.Headers, "\r\n", "\n"))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// adminClient calls the server's admin API.
type adminClient struct {
	base  string
	token string
	http  *http.Client
}

func newAdminClient(cfg *config.Config) (*adminClient, error) {
	addr := ""
	for _, l := range cfg.Listeners {
		if l.Protocol == config.ProtoHTTP {
			addr = l.Address
			break
		}
	}
	if addr == "" {
		return nil, errors.New("the config has no http listener; the queue commands need one")
	}
	addr = strings.Replace(addr, "0.0.0.0:", "127.0.0.1:", 1)
	if strings.HasPrefix(addr, "[::]:") || strings.HasPrefix(addr, ":") {
		addr = "[::1]:" + addr[strings.LastIndexByte(addr, ':')+1:]
	}
	c := &adminClient{base: "http://" + addr, http: &http.Client{Timeout: 30 * time.Second}}
	if cfg.HTTP.TokenFile != "" {
		b, err := os.ReadFile(cfg.HTTP.TokenFile)
		if err != nil {
			return nil, err
		}
		c.token = strings.TrimSpace(string(b))
	}
	return c, nil
}

// do calls the admin API; a POST sends args as a JSON object, the only
// body the server takes for a state-changing call (docs/operations.md).
func (c *adminClient) do(method, path string, args map[string]string, out any) error {
	var body io.Reader
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return err
	}
	if args != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the server's admin API at %s (is mailgate serve running?): %v", c.base, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		var e map[string]string
		if json.Unmarshal(data, &e) == nil && e["error"] != "" {
			return errors.New(e["error"])
		}
		return fmt.Errorf("admin API: %s: %s", resp.Status, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}
