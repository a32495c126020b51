package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"mailgate/internal/mgtest"
)

// TestConsoleChartsSurviveRestart: mail sent before a restart is still
// on the overview's charts after it (the samples are kept in
// <data_dir>/console-charts.json, written at shutdown), and mail sent
// after the restart adds to them; a damaged file is logged and ignored.
func TestConsoleChartsSurviveRestart(t *testing.T) {
	t.Parallel()
	srv := consoleServer(t, "", mgtest.Options{})
	for range 2 {
		id := submit(t, srv, consoleUser, consoleUserPass, consoleUser, consoleAdmin, []byte("Subject: chart\r\n\r\nhello\r\n"))
		srv.WaitLog("msg=delivered msgid=" + id)
	}
	legend := func(want ...string) {
		t.Helper()
		b := newBrowser(t, "http://"+srv.Addr["http"], nil)
		b.login(consoleAdmin, consoleAdminPass)
		_, body, _ := b.get("/admin/")
		for _, w := range want {
			// Both charts (last hour, last day) show the totals.
			if n := strings.Count(body, w); n != 2 {
				t.Errorf("overview shows %q %d times, want 2 (both charts):\n%s", w, n, body)
			}
		}
	}
	legend(">accepted 2<", ">delivered 2<")
	if code := srv.Stop(); code != 0 {
		t.Fatalf("stop: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(srv.DataDir, "console-charts.json")); err != nil {
		t.Fatalf("no chart file after shutdown: %v", err)
	}
	srv.Restart()
	legend(">accepted 2<", ">delivered 2<")
	id := submit(t, srv, consoleUser, consoleUserPass, consoleUser, consoleAdmin, []byte("Subject: chart\r\n\r\nafter\r\n"))
	srv.WaitLog("msg=delivered msgid=" + id)
	legend(">accepted 3<", ">delivered 3<")

	// A damaged file is logged and ignored: the server starts, the
	// charts start empty.
	srv.Stop()
	if err := os.WriteFile(filepath.Join(srv.DataDir, "console-charts.json"), []byte(`{"version":1,"samples":[[17`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.Restart()
	srv.WaitLog("chart history not loaded")
	legend(">accepted 0<", ">delivered 0<")
}
