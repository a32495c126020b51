package filters

import (
	"context"
	"mailgate/internal/mailmsg"
	"strings"
	"testing"

	"github.com/emersion/go-smtp"

	"mailgate/config"
)

// A filter added the way docs/filters.md says: a file pair (here both
// halves in this test) and one registry row. Nothing else in filters or
// config names it.

// stampConfig is the stamp block: recipients of the listed domains are
// refused, and passing mail gets an X-Stamp field with Note.
type stampConfig struct {
	Actions Actions  `yaml:"actions"`
	Refuse  []string `yaml:"refuse"`
	Note    string   `yaml:"note"`
}

var stampResults = map[string]string{"listed": ActionReject, "clean": ActionAccept}

func defaultStampConfig() *stampConfig { return &stampConfig{Note: "stamped"} }

func (c *stampConfig) ActionMap() Actions { return c.Actions }

func (c *stampConfig) check(b *config.FilterBlock) {
	if strings.TrimSpace(c.Note) == "" {
		b.Errorf("note", "empty; write the text of the X-Stamp field, such as stamped")
	}
	for _, use := range b.Listeners() {
		if !use.Before("sender_policy") && use.Listener.Protocol != config.ProtoSMTP {
			use.Errorf("stamp needs sender_policy before it on a submission listener")
		}
	}
}

type stampFilter struct{ c *stampConfig }

func newStamp(c *stampConfig, _ *config.Config, _ Deps) (*stampFilter, error) {
	return &stampFilter{c: c}, nil
}

func (f *stampFilter) Name() string             { return "stamp" }
func (f *stampFilter) Begin(conn *Conn) Session { return f }
func (f *stampFilter) Close()                   {}

func (f *stampFilter) CheckRcpt(ctx context.Context, st *State, to string) Verdict {
	for _, d := range f.c.Refuse {
		if strings.EqualFold(mailmsg.Domain(to), d) {
			return Verdict{Result: "listed", Reply: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1},
				Message: "Recipient domain refused by the stamp filter"}}
		}
	}
	return Verdict{Result: "clean"}
}

func (f *stampFilter) Decorate(ctx context.Context, st *State, msg *Message) error {
	msg.Prepend = append(msg.Prepend, "X-Stamp: "+f.c.Note+"\r\n"...)
	return nil
}

// stampRegistry is the built-in table plus the stamp row.
func stampRegistry() *Registry {
	return Builtin().With(Row("stamp", stampResults, defaultStampConfig, (*stampConfig).check, newStamp))
}

const stampYAML = "hostname: mx.example.org\nlisteners:\n  - name: mx\n    protocol: smtp\n    address: 127.0.0.1:2525\n    filters: [stamp]\n"

// TestRegistryNewFilter: the row alone makes stamp a filter the config
// decodes strictly, checks at file:line, and a chain runs with the
// configured action.
func TestRegistryNewFilter(t *testing.T) {
	t.Parallel()
	y := stampYAML + "filters:\n  stamp:\n    refuse: [blocked.example]\n    note: checked by stamp\n"
	c, err := config.Parse("stamp.yaml", []byte(y), stampRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ch := newChain(t, c, Deps{Registry: stampRegistry()})
	conn := &Conn{Listener: "mx", SessionID: "s1"}
	reply, _ := transact(t, ch, conn, "a@sender.example", []string{"x@blocked.example"}, "Subject: t\n\nhi\n")
	if want := "550 5.7.1 Recipient domain refused by the stamp filter"; reply != want {
		t.Errorf("listed recipient: %q, want %q", reply, want)
	}
	reply, msg := transact(t, ch, conn, "a@sender.example", []string{"x@fine.example"}, "Subject: t\n\nhi\n")
	if reply != "" || !strings.HasPrefix(final(msg), "X-Stamp: checked by stamp\r\n") {
		t.Errorf("clean recipient: reply %q, message %q", reply, final(msg))
	}

	c, err = config.Parse("stamp.yaml", []byte(y+"    actions: {listed: tempfail}\n"), stampRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ch = newChain(t, c, Deps{Registry: stampRegistry()})
	reply, _ = transact(t, ch, conn, "a@sender.example", []string{"x@blocked.example"}, "Subject: t\n\nhi\n")
	if want := "451 4.7.1 Recipient domain refused by the stamp filter"; reply != want {
		t.Errorf("listed recipient with tempfail: %q, want %q", reply, want)
	}
}

// TestRegistryNewFilterErrors: the new filter's block gets the same
// file:line errors as the built-in ones, and without its row it is not a
// filter at all.
func TestRegistryNewFilterErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, yaml, want string }{
		{"its own check", stampYAML + "filters:\n  stamp:\n    note: \" \"\n",
			`stamp.yaml:9: filters.stamp.note: empty; write the text of the X-Stamp field, such as stamped`},
		{"strict keys", stampYAML + "filters:\n  stamp:\n    colour: red\n",
			`stamp.yaml:9: filters.stamp.colour: unknown key; valid keys here are: actions, note, refuse`},
		{"its results", stampYAML + "filters:\n  stamp:\n    actions:\n      spam: reject\n",
			`stamp.yaml:10: filters.stamp.actions.spam: "spam" is not a result of the stamp filter; write one of clean, listed`},
		{"types", stampYAML + "filters:\n  stamp:\n    refuse: blocked.example\n",
			`stamp.yaml:9: filters.stamp.refuse: expected a list (- item)`},
		{"listener order", strings.Replace(stampYAML, "smtp\n", "submission\n", 1),
			`stamp.yaml:6: listeners[0].filters[0]: stamp needs sender_policy before it on a submission listener`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse("stamp.yaml", []byte(tc.yaml), stampRegistry())
			if err == nil || err.Error() != tc.want {
				t.Errorf("got\n%v\nwant\n%s", err, tc.want)
			}
		})
	}
	_, err := config.Parse("stamp.yaml", []byte(stampYAML), Builtin())
	if err == nil || !strings.Contains(err.Error(), `stamp.yaml:6: listeners[0].filters[0]: "stamp" is not a filter; write one of arc_verify, dkim_sign,`) {
		t.Errorf("without its row: %v", err)
	}
}
