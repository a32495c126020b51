package testenv

import "strings"

// RepeatedLogKey returns a key that appears twice in a logfmt line
// (slog's text format), or "". Most log tools keep only one of the two.
func RepeatedLogKey(line string) string {
	seen := map[string]bool{}
	for i := 0; i < len(line); {
		for i < len(line) && line[i] == ' ' {
			i++
		}
		eq := strings.IndexByte(line[i:], '=')
		if eq < 0 {
			return ""
		}
		key := line[i : i+eq]
		if seen[key] {
			return key
		}
		seen[key] = true
		i += eq + 1
		i += valueLen(line[i:])
	}
	return ""
}

// valueLen is the length of the logfmt value at the start of s: a quoted
// string with backslash escapes, or everything up to the next space.
func valueLen(s string) int {
	if !strings.HasPrefix(s, `"`) {
		if j := strings.IndexByte(s, ' '); j >= 0 {
			return j
		}
		return len(s)
	}
	for j := 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(s)
}
