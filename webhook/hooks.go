package webhook

import (
	"fmt"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"mailgate/internal/jsonfile"
)

// Event types.
const (
	Delivered    = "delivered"
	Deferred     = "deferred"
	Bounced      = "bounced"
	DelayWarning = "delay_warning"
	Suppressed   = "suppressed"
)

// Types lists every event type.
func Types() []string { return []string{Delivered, Deferred, Bounced, DelayWarning, Suppressed} }

// Hook is one account's endpoint. Secret signs the events (HMAC-SHA256);
// it is kept in clear because signing needs it, in a file only the
// server's user reads.
type Hook struct {
	ID      string    `json:"id"`
	Account string    `json:"account"`
	URL     string    `json:"url"`
	Events  []string  `json:"events"`
	Secret  string    `json:"secret"`
	Created time.Time `json:"created"`
}

// Wants reports whether the hook takes events of type typ.
func (h Hook) Wants(typ string) bool { return slices.Contains(h.Events, typ) }

// hooksName is the file of hooks inside the data directory.
const hooksName = "webhooks.json"

// Hooks is <data_dir>/webhooks.json, reread when it changes.
type Hooks struct{ file *jsonfile.File[[]Hook] }

// OpenHooks loads the hooks of dataDir (none when the file is absent).
func OpenHooks(dataDir string) (*Hooks, error) {
	f, err := jsonfile.Open[[]Hook](filepath.Join(dataDir, hooksName))
	return &Hooks{file: f}, err
}

// For returns account's hooks that take typ.
func (h *Hooks) For(account, typ string) []Hook {
	hooks, _, _ := h.file.Get()
	var out []Hook
	for _, k := range hooks {
		if strings.EqualFold(k.Account, account) && k.Wants(typ) {
			out = append(out, k)
		}
	}
	return out
}

// Get returns the hook with id.
func (h *Hooks) Get(id string) (Hook, bool) {
	hooks, _, _ := h.file.Get()
	i := slices.IndexFunc(hooks, func(k Hook) bool { return k.ID == id })
	if i < 0 {
		return Hook{}, false
	}
	return hooks[i], true
}

// List returns every hook.
func (h *Hooks) List() ([]Hook, error) { return jsonfile.Items(h.file) }

// Add makes a hook with a new secret.
func (h *Hooks) Add(account, rawURL string, events []string) (Hook, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Hook{}, fmt.Errorf("%q is not an http(s) URL", rawURL)
	}
	for _, e := range events {
		if !slices.Contains(Types(), e) {
			return Hook{}, fmt.Errorf("%q is not an event; write some of %s", e, strings.Join(Types(), ","))
		}
	}
	hook := Hook{ID: jsonfile.NewID(), Account: strings.ToLower(account), URL: rawURL, Events: events,
		Secret: "whsec_" + jsonfile.NewSecret(24), Created: time.Now().UTC()}
	return hook, jsonfile.Append(h.file, hook)
}

// Remove deletes the hook with id.
func (h *Hooks) Remove(id string) error {
	return jsonfile.Remove(h.file, func(k Hook) bool { return k.ID == id },
		fmt.Errorf("no webhook with id %q (see mailgate webhook list)", id))
}
