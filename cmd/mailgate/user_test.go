package main

import (
	"testing"
	"time"

	"mailgate/accounts"
)

// TestParseRateLimit: --rate-limit takes messages, optionally recipients,
// per a period, or "default"; anything else is refused with the form to
// write.
func TestParseRateLimit(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]*accounts.RateLimit{
		"":                nil,
		"default":         nil,
		"20000/1m":        {Messages: 20000, Period: time.Minute},
		"20000,100000/1h": {Messages: 20000, Recipients: 100000, Period: time.Hour},
		"0,500/30s":       {Recipients: 500, Period: 30 * time.Second},
	} {
		got, err := parseRateLimit(in)
		if err != nil || (got == nil) != (want == nil) || got != nil && *got != *want {
			t.Errorf("parseRateLimit(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"20000", "x/1m", "10/0s", "-1/1m", "0/1m", "10/fortnight", "10,x/1m"} {
		if _, err := parseRateLimit(bad); err == nil {
			t.Errorf("parseRateLimit(%q) accepted", bad)
		}
	}
}
