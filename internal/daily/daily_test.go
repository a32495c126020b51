package daily

import (
	"testing"
	"time"
)

func TestSaveLoadSent(t *testing.T) {
	d := Dir(t.TempDir())
	if err := d.Save("2026-12-04", map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	var v map[string]int
	if !d.Load("2026-12-04", &v) || v["a"] != 1 {
		t.Fatalf("loaded %v", v)
	}
	if d.Load("2026-12-05", &v) {
		t.Fatal("loaded a day never saved")
	}
	if err := d.MarkSent("2026-12-04", "x.test"); err != nil {
		t.Fatal(err)
	}
	if s := d.Sent("2026-12-04"); !s["x.test"] || len(s) != 1 {
		t.Fatalf("sent %v", s)
	}
	if dates, err := d.Dates(); err != nil || len(dates) != 1 || dates[0] != "2026-12-04" {
		t.Fatalf("dates %v %v", dates, err)
	}
	if y := Yesterday(time.Date(2026, 12, 5, 0, 30, 0, 0, time.UTC)); y != "2026-12-04" {
		t.Fatal(y)
	}
}
