package filters

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// writeKey makes a DKIM key file in a temp dir and returns its path.
func writeKey(t testing.TB, algo string) string {
	t.Helper()
	_, pemData, err := GenerateDKIMKey(algo)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), algo+".pem")
	if err := os.WriteFile(p, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
