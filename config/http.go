package config

import (
	"fmt"
	"strings"
)

// validate checks the web console's settings: each admin is an account
// address, and sessions end after a positive time.
func (h *HTTP) validate(v *Validator) {
	for i, a := range h.Admins {
		at := strings.LastIndexByte(a, '@')
		if at < 1 || !IsDomain(a[at+1:]) || strings.ContainsAny(a[:at], " \t\r\n\"<>()[]\\,;:@/+") {
			v.Errorf(fmt.Sprintf("http.admins[%d]", i), "%q is not an account address; write the address of an account, such as postmaster@example.com", a)
		}
	}
	if h.SessionIdle.D() < 1e9 {
		v.Errorf("http.session_idle", "must be at least 1s; write a duration such as 30m")
	}
	if h.SessionLifetime.D() < h.SessionIdle.D() {
		v.Errorf("http.session_lifetime", "must be at least http.session_idle; write a duration such as 12h")
	}
}
