package filters

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"mailgate/config"
)

// Builtin is the registry of mailgate's filters: one row per filter, each
// made by Row from the filter's file pair (NAME.go, NAME_config.go). The
// order here is only for reading; a listener's filters list sets the order
// filters run in. Adding a filter is its file pair and one row here
// (docs/filters.md).
func Builtin() *Registry {
	return NewRegistry(
		Row("spf", spfResults, defaultSPFConfig, (*SPFConfig).check, newSPF),
		Row("dkim_verify", dkimVerifyResults, defaultDKIMVerifyConfig, (*DKIMVerifyConfig).check, newDKIMVerify),
		Row("arc_verify", arcVerifyResults, defaultARCVerifyConfig, (*ARCVerifyConfig).check, newARCVerify),
		Row("dmarc", dmarcResults, defaultDMARCConfig, (*DMARCConfig).check, newDMARC),
		Row("ratelimit", rateLimitResults, defaultRateLimitConfig, (*RateLimitConfig).check, newRateLimit),
		Row("sender_policy", senderPolicyResults, defaultSenderPolicyConfig, (*SenderPolicyConfig).check, newSenderPolicy),
		Row("milter", milterResults, defaultMilterConfig, (*MilterConfig).check, newMilter),
		Row("dnsbl", dnsblResults, defaultDNSBLConfig, (*DNSBLConfig).check, newDNSBL),
		Row("dkim_sign", map[string]string{}, defaultDKIMSignConfig, (*DKIMSignConfig).check, newDKIMSign),
	)
}

// Registry is a table of filters. It is what config.Parse asks to decode
// and check each filter's block, and what a Chain builds its filters
// from.
type Registry struct {
	kinds map[string]Kind
}

var _ config.FilterRegistry = (*Registry)(nil)

// NewRegistry makes a registry of kinds.
func NewRegistry(kinds ...Kind) *Registry {
	r := &Registry{kinds: map[string]Kind{}}
	for _, k := range kinds {
		r.kinds[k.name] = k
	}
	return r
}

// With returns a registry with r's rows and kinds (a test's own filter).
func (r *Registry) With(kinds ...Kind) *Registry {
	all := make([]Kind, 0, len(r.kinds)+len(kinds))
	for _, k := range r.kinds {
		all = append(all, k)
	}
	return NewRegistry(append(all, kinds...)...)
}

// FilterNames lists the registry's filters, sorted.
func (r *Registry) FilterNames() []string {
	return slices.Sorted(maps.Keys(r.kinds))
}

// Results returns the results filter name reports, each with the action
// it gets unless the config says otherwise; nil for no such filter.
func (r *Registry) Results(name string) map[string]string { return r.kinds[name].results }

// CheckFilter decodes b over the filter's defaults, checks its actions and
// its own settings, and returns the settings.
func (r *Registry) CheckFilter(b *config.FilterBlock) any {
	k, ok := r.kinds[b.Name]
	if !ok {
		return nil
	}
	return k.check(b)
}

// Kind is one row of a Registry: a filter's name, its results with their
// default actions, and how its block is decoded, checked and built.
type Kind struct {
	name    string
	results map[string]string
	check   func(b *config.FilterBlock) any
	actions func(settings any) Actions
	build   func(settings any, cfg *config.Config, deps Deps) (Filter, error)
}

// Row makes the row of a filter whose block decodes into T: its results
// (result → default action; nil when it reports none), its defaults, the
// checks of its settings beyond their types, and its constructor. When T
// has an actions: key (a method Actions() Actions), its values are
// checked against the results.
func Row[T any, F Filter](name string, results map[string]string, defaults func() *T,
	check func(*T, *config.FilterBlock), build func(*T, *config.Config, Deps) (F, error)) Kind {
	return Kind{
		name:    name,
		results: results,
		check: func(b *config.FilterBlock) any {
			s := defaults()
			b.Decode(s)
			if a, ok := any(s).(reporting); ok {
				checkActions(b, results, a.ActionMap())
			}
			check(s, b)
			return s
		},
		actions: func(settings any) Actions {
			a, _ := settings.(reporting)
			if a == nil {
				return Actions{}.over(results)
			}
			return a.ActionMap().over(results)
		},
		build: func(settings any, cfg *config.Config, deps Deps) (Filter, error) {
			s, ok := settings.(*T)
			if !ok {
				return nil, fmt.Errorf("config was not checked by this registry; load it with the registry that builds the chain")
			}
			f, err := build(s, cfg, deps)
			if err != nil {
				return nil, err
			}
			return f, nil
		},
	}
}

// reporting is a filter block with an actions: key.
type reporting interface{ ActionMap() Actions }

// checkActions reports results the filter does not have and values that
// are not actions.
func checkActions(b *config.FilterBlock, results map[string]string, a Actions) {
	for result, act := range a {
		key := "actions." + result
		if _, ok := results[result]; !ok {
			b.Errorf(key, "%q is not a result of the %s filter; write one of %s", result, b.Name, strings.Join(slices.Sorted(maps.Keys(results)), ", "))
			continue
		}
		switch act {
		case ActionAccept, ActionTag, ActionQuarantine, ActionTempfail, ActionReject:
		case ActionDiscard:
			if _, ok := results[ActionDiscard]; !ok {
				b.Errorf(key, "discard is only for the milter filter; write accept, tag, quarantine, tempfail or reject")
			}
		default:
			b.Errorf(key, "%q is not an action; write accept, tag, quarantine, tempfail or reject", act)
		}
	}
}
