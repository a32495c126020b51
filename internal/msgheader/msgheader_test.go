package msgheader

import "testing"

func TestSplit(t *testing.T) {
	raw := []byte("Subject: a\r\n b\r\nX-Empty:\r\nbroken line\n\tgoes on\r\n\r\nbody\r\n")
	fields, body := Split(raw)
	if len(fields) != 3 || string(raw[body:]) != "body\r\n" {
		t.Fatalf("fields %q, body %q", fields, raw[body:])
	}
	want := []struct{ name, value, rawValue string }{
		{"Subject", "a b", " a\r\n b\r\n"},
		{"X-Empty", "", "\r\n"},
		{"broken line", "broken line\tgoes on", "broken line\n\tgoes on\r\n"},
	}
	for i, w := range want {
		f := fields[i]
		if f.Name != w.name || f.Value() != w.value || f.RawValue() != w.rawValue {
			t.Errorf("field %d = %q %q %q, want %q %q %q", i, f.Name, f.Value(), f.RawValue(), w.name, w.value, w.rawValue)
		}
	}
	if fields, body := Split([]byte("A: 1\r\nB: 2")); len(fields) != 2 || body != 10 {
		t.Errorf("no empty line: %d fields, body at %d", len(fields), body)
	}
}
