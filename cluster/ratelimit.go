package cluster

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bucket is one rate limit to take from: at most Limit units per Period,
// as a burst or spread out, N units now.
type Bucket struct {
	Key    string
	Limit  int
	Period time.Duration
	N      int
}

// gcraScript is GCRA (the generic cell rate algorithm) over several keys
// at once: each key holds its theoretical arrival time (TAT) in
// microseconds of the Redis server's clock, so that the nodes' clocks do
// not matter. Every bucket is checked first; the TATs are written only
// when all have room, so a refused message takes nothing. ARGV holds
// (period µs, limit, n) per key and a final 1 to take or 0 to only look.
// The reply is the 1-based index of the first bucket without room, or 0.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local take = tonumber(ARGV[#ARGV]) == 1
local tats = {}
for i, key in ipairs(KEYS) do
  local period = tonumber(ARGV[3*i-2])
  local limit = tonumber(ARGV[3*i-1])
  local n = tonumber(ARGV[3*i])
  local interval = period / limit
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new = tat + n * interval
  if new - now > period then return i end
  tats[i] = new
end
if take then
  for i, key in ipairs(KEYS) do
    redis.call('SET', key, string.format('%d', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1)
  end
end
return 0
`)

// RateLimits keeps rate-limit buckets in Redis for every node.
type RateLimits struct{ r *Redis }

// NewRateLimits uses r's connection.
func NewRateLimits(r *Redis) *RateLimits { return &RateLimits{r: r} }

// Take takes each bucket's N units, from all or from none, and returns
// the index of the first bucket without room, or -1. On an error the
// caller decides (the filters fall back to this node's own buckets).
func (l *RateLimits) Take(bs []Bucket) (int, error) { return l.run(bs, 1) }

// Has reports whether b has room for its N units, taking nothing.
func (l *RateLimits) Has(b Bucket) (bool, error) {
	over, err := l.run([]Bucket{b}, 0)
	return over < 0, err
}

func (l *RateLimits) run(bs []Bucket, take int) (int, error) {
	if len(bs) == 0 {
		return -1, nil
	}
	keys := make([]string, len(bs))
	args := make([]any, 0, 3*len(bs)+1)
	for i, b := range bs {
		keys[i] = l.r.Key("rl:" + b.Key)
		args = append(args, b.Period.Microseconds(), b.Limit, b.N)
	}
	args = append(args, take)
	var over int64
	err := l.r.Do("ratelimit", func(ctx context.Context, c *redis.Client) error {
		var err error
		over, err = gcraScript.Run(ctx, c, keys, args...).Int64()
		return err
	})
	return int(over) - 1, err
}
