package jsonfile

import (
	"errors"
	"path/filepath"
	"regexp"
	"testing"
)

type item struct{ ID, Name string }

// The list helpers write through to disk (a second File sees the
// change), Remove says notFound for an unknown ID, and Items is a copy.
func TestListHelpers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "items.json")
	f, err := Open[[]item](path)
	if err != nil {
		t.Fatal(err)
	}
	a, b := item{NewID(), "a"}, item{NewID(), "b"}
	if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(a.ID) || len(NewSecret(32)) != 43 {
		t.Errorf("NewID %q, NewSecret length %d", a.ID, len(NewSecret(32)))
	}
	for _, it := range []item{a, b} {
		if err := Append(f, it); err != nil {
			t.Fatal(err)
		}
	}
	notFound := errors.New("no such item")
	if err := Remove(f, func(x item) bool { return x.ID == "nope" }, notFound); err != notFound {
		t.Errorf("Remove of an unknown item: %v", err)
	}
	if err := Remove(f, func(x item) bool { return x.ID == a.ID }, notFound); err != nil {
		t.Fatal(err)
	}
	g, _ := Open[[]item](path)
	got, err := Items(g)
	if err != nil || len(got) != 1 || got[0] != b {
		t.Fatalf("on disk after Remove: %v %v", got, err)
	}
	got[0].Name = "changed"
	if again, _ := Items(g); again[0].Name != "b" {
		t.Error("Items shares its slice with the file's value")
	}
}
