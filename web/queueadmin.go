package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"

	"mailgate/queue"
)

// Queue is what the admin API does with the queue (*queue.Queue is one).
type Queue interface {
	List() []queue.MessageInfo
	Show(id string) (queue.MessageInfo, error)
	Flush(id, domain string) (int, error)
	Hold(id string) error
	Release(id string) error
	Delete(id string) error
	Bounce(id string) error
}

var _ Queue = (*queue.Queue)(nil)

// QueueAdmin serves the queue operations `mailgate queue` uses, under
// /admin/queue. Mount it with Server.Handle, which guards it (loopback
// only, or a bearer token).
func QueueAdmin(q Queue) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/queue", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, q.List())
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

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, queue.ErrNotFound) {
		code = http.StatusNotFound
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
