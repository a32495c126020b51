package sieve

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEScript parses the Sieve example in README.md, so the
// example a user copies works.
func TestREADMEScript(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, "```\nrequire [")
	if i < 0 {
		t.Fatal("README.md has no Sieve example starting with require")
	}
	block := text[i+4:]
	block = block[:strings.Index(block, "```")]
	if _, err := Parse([]byte(block), 0); err != nil {
		t.Errorf("README's Sieve example: %v\n%s", err, block)
	}
}
