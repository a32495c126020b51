package cluster

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// LockoutLimits are authlimit's thresholds, as the scripts need them.
type LockoutLimits struct {
	MaxFailures, MaxAccountFailures int
	Window, Lockout, TrustedFor     time.Duration
}

// Lockouts keeps the failed-login counts, lockouts and each account's
// known-good addresses in Redis, so that a client locked out on one node
// is refused by all. Failures are counted in a fixed window that starts
// at the first failure (INCR with an expiry), a close approximation of
// the in-process sliding window.
type Lockouts struct {
	r   *Redis
	lim LockoutLimits
}

// NewLockouts uses r's connection.
func NewLockouts(r *Redis, lim LockoutLimits) *Lockouts { return &Lockouts{r: r, lim: lim} }

// FailResult is what a failed login changed.
type FailResult struct {
	// Locked: the IP, or the account from this IP, may not try now.
	Locked bool
	// IPLocked and AccountLocked are set on the failure that started a
	// lockout (the node that saw it writes the log line).
	IPLocked, AccountLocked bool
}

// Keys of one (ip, account) pair: failures and lock of the IP, failures,
// lock and trusted addresses of the account.
func (l *Lockouts) keys(ip, user string) []string {
	return []string{l.r.Key("auth:fail:ip:" + ip), l.r.Key("auth:lock:ip:" + ip),
		l.r.Key("auth:fail:acct:" + user), l.r.Key("auth:lock:acct:" + user), l.r.Key("auth:trusted:" + user)}
}

// trustedLua defines trusted(): whether ARGV[1] logged into the account
// within ARGV[2] ms.
const trustedLua = `
local function nowms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function trusted()
  local s = redis.call('ZSCORE', KEYS[5], ARGV[1])
  return s and tonumber(s) > nowms() - tonumber(ARGV[2])
end
`

var refusedScript = redis.NewScript(trustedLua + `
if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end
if ARGV[3] == '' then return 0 end
if redis.call('EXISTS', KEYS[4]) == 1 and not trusted() then return 1 end
return 0
`)

// failScript counts a failure; ARGV: ip, trusted ms, user, max IP
// failures, max account failures, window ms, lockout ms. The reply's
// bits: 1 locked, 2 IP lockout started, 4 account lockout started.
var failScript = redis.NewScript(trustedLua + `
local function count(fail, lock, max)
  if redis.call('EXISTS', lock) == 1 then return 1 end
  local n = redis.call('INCR', fail)
  if n == 1 then redis.call('PEXPIRE', fail, ARGV[6]) end
  if n < tonumber(max) then return 0 end
  redis.call('SET', lock, '1', 'PX', ARGV[7])
  redis.call('DEL', fail)
  return 2
end
local r = count(KEYS[1], KEYS[2], ARGV[4])
local out = 0
if r > 0 then out = 1 end
if r == 2 then out = out + 2 end
if ARGV[3] ~= '' then
  local a = count(KEYS[3], KEYS[4], ARGV[5])
  if a == 2 then out = out + 4 end
  if a > 0 and not trusted() and out % 2 == 0 then out = out + 1 end
end
return out
`)

// succeedScript forgets the IP's failures (unless it is locked) and
// trusts it for the account; ARGV: ip, trusted ms, user.
var succeedScript = redis.NewScript(trustedLua + `
if redis.call('EXISTS', KEYS[2]) == 0 then redis.call('DEL', KEYS[1]) end
if ARGV[3] == '' then return 0 end
local now = nowms()
redis.call('ZADD', KEYS[5], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now - tonumber(ARGV[2]))
local n = redis.call('ZCARD', KEYS[5])
if n > 16 then redis.call('ZREMRANGEBYRANK', KEYS[5], 0, n - 17) end
redis.call('PEXPIRE', KEYS[5], ARGV[2])
return 0
`)

// Refused reports whether ip (as user; "" for the IP alone) is locked
// out on any node.
func (l *Lockouts) Refused(ip, user string) (bool, error) {
	n, err := l.run(refusedScript, ip, user)
	return n == 1, err
}

// Fail counts a failed login.
func (l *Lockouts) Fail(ip, user string) (FailResult, error) {
	n, err := l.run(failScript, ip, user, l.lim.MaxFailures, l.lim.MaxAccountFailures,
		l.lim.Window.Milliseconds(), l.lim.Lockout.Milliseconds())
	return FailResult{Locked: n&1 != 0, IPLocked: n&2 != 0, AccountLocked: n&4 != 0}, err
}

// Succeed records a good login.
func (l *Lockouts) Succeed(ip, user string) error {
	_, err := l.run(succeedScript, ip, user)
	return err
}

func (l *Lockouts) run(s *redis.Script, ip, user string, more ...any) (int64, error) {
	args := append([]any{ip, l.lim.TrustedFor.Milliseconds(), user}, more...)
	var n int64
	err := l.r.Do("lockout", func(ctx context.Context, c *redis.Client) error {
		var err error
		n, err = s.Run(ctx, c, l.keys(ip, user), args...).Int64()
		return err
	})
	return n, err
}
