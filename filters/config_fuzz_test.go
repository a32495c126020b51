package filters

import (
	"errors"
	"os"
	"strings"
	"testing"

	"mailgate/config"
)

// FuzzFilterBlocks feeds arbitrary config text to config.Parse with the
// filters' registry, so every filter's block is decoded and checked by
// its own row (config's FuzzParse cannot import the filters). It must
// never panic; whatever is wrong comes back as Problems with a file and a
// one-line message; an accepted config has settings for every filter.
func FuzzFilterBlocks(f *testing.F) {
	f.Add(config.DefaultYAML())
	if ex, err := os.ReadFile("../mailgate.example.yaml"); err == nil {
		f.Add(ex)
	}
	for _, s := range []string{
		"filters: [dmarc, spff]\n", "filters: 5\n", "filters:\n  spf: [1]\n", "filters:\n  spf:\n  spf:\n",
		"filters:\n  dkim_sign:\n    keys:\n      - {domain: x, selector: y, file: /nonexistent}\n",
		"filters:\n  ratelimit:\n    accounts:\n      a: {period: 1x}\n", "filters:\n  milter: {address: 'unix:'}\n",
		"filters:\n  spf: &a {timeout: 1s}\n  dmarc: *a\n", "filters:\n  dmarc:\n    actions: {fail_reject: discard}\n",
		"listeners:\n  - {name: s, protocol: submission, address: 127.0.0.1:1, filters: [dkim_sign, dmarc, dmarc]}\n",
	} {
		f.Add([]byte(s))
	}
	reg := Builtin()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("fuzz.yaml", data, reg)
		if err == nil {
			for _, name := range reg.FilterNames() {
				if c.Filters.Settings(name) == nil {
					t.Fatalf("accepted config has no settings for %s", name)
				}
			}
			return
		}
		var es *config.Errors
		if !errors.As(err, &es) || len(es.Problems) == 0 {
			t.Fatalf("error is not a list of problems: %T %v", err, err)
		}
		for _, p := range es.Problems {
			if p.File != "fuzz.yaml" || p.Msg == "" || p.Line < 1 {
				t.Fatalf("problem without file, line or message: %+v", p)
			}
			if strings.ContainsAny(p.Msg, "\n\r") {
				t.Fatalf("problem message spans lines: %q", p.Msg)
			}
		}
	})
}
