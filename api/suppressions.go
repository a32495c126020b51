package api

import (
	"errors"
	"net/http"
	"strings"

	"mailgate/suppression"
)

// Suppressions is the account's list of recipients that bounced hard.
type Suppressions interface {
	Has(account, addr string) bool
	Entries(account string) ([]suppression.Entry, error)
	Remove(account, addr string) error
}

// suppressedAnswer refuses a send to a suppressed recipient, naming it.
func suppressedAnswer(addr string) answer {
	return errAnswer(http.StatusUnprocessableEntity, Error{Code: "suppressed", Field: "to",
		Message: addr + " bounced hard before and is suppressed for your account; lift it with DELETE /api/v1/suppressions/" + addr + " if the address works again",
		SMTP:    "550 5.1.1 <" + addr + "> is suppressed"})
}

// suppressedIn returns the first suppressed recipient, or "".
func (s *Server) suppressedIn(account string, rcpts []string) string {
	if s.opts.Suppressions == nil {
		return ""
	}
	for _, r := range rcpts {
		if s.opts.Suppressions.Has(account, r) {
			return r
		}
	}
	return ""
}

// listSuppressions answers GET /api/v1/suppressions.
func (s *Server) listSuppressions(w http.ResponseWriter, r *http.Request, c caller) {
	if s.opts.Suppressions == nil {
		writeJSON(w, http.StatusOK, map[string]any{"suppressions": []suppression.Entry{}})
		return
	}
	list, err := s.opts.Suppressions.Entries(c.key.Account)
	if err != nil {
		s.internal(w, "suppression list", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"suppressions": list})
}

// removeSuppression answers DELETE /api/v1/suppressions/{address}.
func (s *Server) removeSuppression(w http.ResponseWriter, r *http.Request, c caller) {
	addr := strings.TrimSpace(r.PathValue("address"))
	var err error = suppression.ErrNotFound
	if s.opts.Suppressions != nil {
		err = s.opts.Suppressions.Remove(c.key.Account, addr)
	}
	switch {
	case errors.Is(err, suppression.ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", truncate(addr)+" is not suppressed for your account")
	case err != nil:
		s.internal(w, "suppression remove", err)
	default:
		s.log.Info("suppression removed", "account", c.key.Account, "address", truncate(addr), "key", c.key.ID)
		w.WriteHeader(http.StatusNoContent)
	}
}
