package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"time"

	"mailgate/queue"
)

// Queue is what the admin API does with the queue (*queue.Queue is one).
type Queue interface {
	Select(f queue.Filter) []queue.MessageInfo
	Show(id string) (queue.MessageInfo, error)
	Flush(id, domain string) (int, error)
	Hold(id string) error
	Release(id string) error
	Delete(id string) error
	Bounce(id string) error
	Import(dir string) ([]queue.ImportResult, error)
}

var _ Queue = (*queue.Queue)(nil)

// QueueAdmin serves the queue operations `mailgate queue` uses, under
// /admin/queue. Mount it with Server.Handle, which guards it (loopback
// only, or a bearer token).
func QueueAdmin(q Queue) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/queue", func(w http.ResponseWriter, r *http.Request) {
		f, problem := queueFilter(r.URL.Query())
		if problem != "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": problem})
			return
		}
		writeJSON(w, http.StatusOK, q.Select(f))
	})
	mux.HandleFunc("GET /admin/queue/{id}", func(w http.ResponseWriter, r *http.Request) {
		mi, err := q.Show(r.PathValue("id"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, mi)
	})
	mux.HandleFunc("POST /admin/queue/flush", func(w http.ResponseWriter, r *http.Request) {
		var args struct {
			ID     string `json:"id"`
			Domain string `json:"domain"`
		}
		if err := json.NewDecoder(r.Body).Decode(&args); err != nil && !errors.Is(err, io.EOF) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": `the body must be a JSON object such as {"domain": "example.com"} or {"id": "ID"}`})
			return
		}
		n, err := q.Flush(args.ID, args.Domain)
		if err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"flushed": n})
	})
	mux.HandleFunc("POST /admin/queue/import", func(w http.ResponseWriter, r *http.Request) { serveImport(q, w, r) })
	ops := map[string]func(string) error{"hold": q.Hold, "release": q.Release, "delete": q.Delete, "bounce": q.Bounce}
	mux.HandleFunc("POST /admin/queue/{id}/{op}", func(w http.ResponseWriter, r *http.Request) {
		op := ops[r.PathValue("op")]
		if op == nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown operation; use hold, release, delete or bounce"})
			return
		}
		if err := op(r.PathValue("id")); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"id": r.PathValue("id"), "done": r.PathValue("op")})
	})
	return mux
}

// serveImport runs Import for `mailgate queue import DIR`.
func serveImport(q Queue, w http.ResponseWriter, r *http.Request) {
	var args struct {
		Dir string `json:"dir"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&args); err != nil || args.Dir == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": `the body must be a JSON object such as {"dir": "/var/lib/mailgate-b/queue"}`})
		return
	}
	res, err := q.Import(args.Dir)
	if err != nil && res == nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, queue.ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, queue.ErrSpoolBusy):
		code = http.StatusConflict
	}
	writeJSON(w, code, map[string]string{"error": err.Error()})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// queueFilter reads a listing's filter from ?domain=&state=&older-than=;
// the problem, if any, says what to write instead.
func queueFilter(v url.Values) (queue.Filter, string) {
	f := queue.Filter{Domain: v.Get("domain"), State: v.Get("state")}
	switch f.State {
	case "", queue.StatePending, queue.StateDeferred, queue.StateHeld, queue.StateDelivered, queue.StateBounced:
	default:
		return f, "state must be pending, deferred, held, delivered or bounced"
	}
	if s := v.Get("older-than"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return f, "older-than must be a duration such as 90m or 2h"
		}
		f.OlderThan = d
	}
	return f, ""
}
