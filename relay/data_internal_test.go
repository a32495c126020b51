package relay

import "testing"

func TestHasBareLineEnding(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"":                  false,
		"a\r\nb\r\n":        false,
		"\r\n":              false,
		"a\n":               true,
		"\n":                true,
		"a\r":               true,
		"\r\r\n":            true,
		"a\r\nb\rc\r\n":     true,
		"a\r\n\r":           true,
		"a\r\nb\nc\r\n":     true,
		"x\r\n.\r\ny\r\n\r": true,
	} {
		if got := hasBareLineEnding([]byte(in)); got != want {
			t.Errorf("hasBareLineEnding(%q) = %v, want %v", in, got, want)
		}
	}
}
