package filters

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// RetryAfter tells how long a client refused by the rate limit should
// wait before one more message fits its budget: one bucket's refill time
// for a token (period / limit), read back from the reply the ratelimit
// filter made (over), so the HTTP API can send Retry-After. ok is false
// for any other error.
func RetryAfter(err error) (d time.Duration, ok bool) {
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.EnhancedCode != (smtp.EnhancedCode{4, 7, 1}) || !strings.HasPrefix(se.Message, "Rate limit reached: more than ") {
		return 0, false
	}
	var n int
	if _, err := fmt.Sscanf(strings.TrimPrefix(se.Message, "Rate limit reached: more than "), "%d", &n); err != nil || n <= 0 {
		return 0, false
	}
	rest := se.Message[strings.LastIndex(se.Message, " in ")+4:]
	period, err := time.ParseDuration(strings.TrimSuffix(rest, "; try again later"))
	if err != nil {
		return 0, false
	}
	d = (period + time.Duration(n) - 1) / time.Duration(n)
	return max(d.Round(time.Second), time.Second), true
}
