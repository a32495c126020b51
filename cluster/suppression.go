package cluster

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

	"github.com/redis/go-redis/v9"

	"mailgate/suppression"
)

// Suppressions is the suppression list in Redis, shared by every node:
// one hash per account (<prefix>supp:<account>, field the address,
// value the entry as JSON) and a set of the accounts that have one
// (<prefix>supp:accounts). suppression.List applies the failure policy.
type Suppressions struct{ r *Redis }

var _ suppression.Shared = (*Suppressions)(nil)

// NewSuppressions uses r's connection.
func NewSuppressions(r *Redis) *Suppressions { return &Suppressions{r: r} }

const featureSuppression = "suppression"

func (s *Suppressions) key(account string) string {
	return s.r.Key("supp:" + strings.ToLower(account))
}

// Has reports whether account's mail to addr is suppressed.
func (s *Suppressions) Has(account, addr string) (bool, error) {
	var ok bool
	err := s.r.Do(featureSuppression, func(ctx context.Context, c *redis.Client) error {
		var err error
		ok, err = c.HExists(ctx, s.key(account), strings.ToLower(addr)).Result()
		return err
	})
	return ok, err
}

// Add suppresses e.Address for e.Account.
func (s *Suppressions) Add(e suppression.Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return s.r.Do(featureSuppression, func(ctx context.Context, c *redis.Client) error {
		_, err := c.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, s.key(e.Account), strings.ToLower(e.Address), b)
			p.SAdd(ctx, s.r.Key("supp:accounts"), strings.ToLower(e.Account))
			return nil
		})
		return err
	})
}

// Remove lifts addr for account; found is false when it was not there.
func (s *Suppressions) Remove(account, addr string) (bool, error) {
	var n int64
	err := s.r.Do(featureSuppression, func(ctx context.Context, c *redis.Client) error {
		var err error
		n, err = c.HDel(ctx, s.key(account), strings.ToLower(addr)).Result()
		return err
	})
	return n > 0, err
}

// Entries returns account's entries ("" for every account).
func (s *Suppressions) Entries(account string) ([]suppression.Entry, error) {
	var out []suppression.Entry
	err := s.r.Do(featureSuppression, func(ctx context.Context, c *redis.Client) error {
		accounts := []string{strings.ToLower(account)}
		if account == "" {
			var err error
			if accounts, err = c.SMembers(ctx, s.r.Key("supp:accounts")).Result(); err != nil {
				return err
			}
		}
		sort.Strings(accounts)
		for _, a := range accounts {
			vals, err := c.HGetAll(ctx, s.key(a)).Result()
			if err != nil {
				return err
			}
			for _, v := range vals {
				var e suppression.Entry
				if json.Unmarshal([]byte(v), &e) == nil {
					out = append(out, e)
				}
			}
		}
		return nil
	})
	return out, err
}
