package arc

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// suiteCase is one case of the ValiMail validation suite; an empty cv
// there means the chain fails.
type suiteCase struct {
	name, message, cv string
}

// readSuite reads every document's cases and DNS records. It walks the
// YAML nodes, since four case names occur twice in one document; the
// second gets a "#2" suffix.
func readSuite(t *testing.T, path string) (cases [][]suiteCase, txt []map[string]string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	for {
		var doc yaml.Node
		if err := dec.Decode(&doc); err == io.EOF {
			return cases, txt
		} else if err != nil {
			t.Fatal(err)
		}
		top := doc.Content[0]
		var cs []suiteCase
		recs := map[string]string{}
		for i := 0; i+1 < len(top.Content); i += 2 {
			switch top.Content[i].Value {
			case "tests":
				cs = suiteCases(top.Content[i+1])
			case "txt-records":
				if err := top.Content[i+1].Decode(&recs); err != nil {
					t.Fatal(err)
				}
			}
		}
		cases, txt = append(cases, cs), append(txt, recs)
	}
}

func suiteCases(m *yaml.Node) []suiteCase {
	var out []suiteCase
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		name := m.Content[i].Value
		if seen[name] {
			name += "#2"
		}
		seen[name] = true
		var c struct {
			Message string `yaml:"message"`
			CV      string `yaml:"cv"`
		}
		if err := m.Content[i+1].Decode(&c); err != nil {
			panic(err)
		}
		cv := strings.ToLower(strings.TrimSpace(c.CV))
		if cv == "" {
			cv = Fail
		}
		out = append(out, suiteCase{name: name, message: c.Message, cv: cv})
	}
	return out
}

// TestValiMailSuite runs every validation case of the ValiMail ARC suite
// (testdata/valimail) and compares the chain result.
func TestValiMailSuite(t *testing.T) {
	cases, txt := readSuite(t, "testdata/valimail/arc-draft-validation-tests.yml")
	n := 0
	for d, cs := range cases {
		lookup := suiteLookup(txt[d])
		for _, tc := range cs {
			n++
			t.Run(tc.name, func(t *testing.T) {
				msg := strings.ReplaceAll(tc.message, "\n", "\r\n")
				got := Verify(context.Background(), []byte(msg), lookup)
				if got.Status != tc.cv {
					t.Errorf("Verify = %s (%s), the suite says %s", got.Status, got.Reason, tc.cv)
				}
			})
		}
	}
	if n < 100 {
		t.Fatalf("only %d cases read from the suite", n)
	}
}

func suiteLookup(recs map[string]string) LookupTXT {
	return func(_ context.Context, name string) ([]string, error) {
		if v, ok := recs[strings.ToLower(name)]; ok {
			return []string{v}, nil
		}
		return nil, errors.New("NXDOMAIN")
	}
}
