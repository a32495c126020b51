package filters

// Actions a filter result can be mapped to (STYLE 6: the verdict is the
// filter's, the action the operator's).
const (
	ActionAccept     = "accept"     // do nothing
	ActionTag        = "tag"        // add an X-Mailgate-Verdict header field
	ActionQuarantine = "quarantine" // deliver to the recipient's Junk folder
	ActionTempfail   = "tempfail"   // 4xx reply: the sender retries later
	ActionReject     = "reject"     // 5xx reply
	ActionDiscard    = "discard"    // accept and drop (milter only)
)

// Actions maps a filter's results to actions, as an actions: key writes
// them; results left out keep their default.
type Actions map[string]string

// over returns the action of every result of results: the configured one,
// else the default.
func (a Actions) over(results map[string]string) map[string]string {
	out := make(map[string]string, len(results))
	for r, act := range results {
		out[r] = act
	}
	for r, act := range a {
		out[r] = act
	}
	return out
}
