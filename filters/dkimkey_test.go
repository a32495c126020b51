package filters

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"mailgate/internal/dnstest"
)

// TestWriteDKIMKey is what `mailgate dkim keygen` does: the key file is
// private, never overwritten, and the printed record verifies signatures
// made with the file.
func TestWriteDKIMKey(t *testing.T) {
	t.Parallel()
	for _, algo := range []string{"rsa", "ed25519"} {
		t.Run(algo, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path, zone, err := WriteDKIMKey(dir, "Example.ORG.", "sel1", algo)
			if err != nil {
				t.Fatal(err)
			}
			if path != dir+"/example.org.sel1.pem" {
				t.Errorf("path %s", path)
			}
			st, err := os.Stat(path)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("key file mode %v, %v; want 0600", st.Mode(), err)
			}
			if !strings.HasPrefix(zone, "sel1._domainkey.example.org. 3600 IN TXT \"v=DKIM1; k="+algo+"; p=") {
				t.Errorf("zone line %s", zone)
			}
			if _, _, err := WriteDKIMKey(dir, "example.org", "sel1", algo); err == nil || !strings.Contains(err.Error(), "already exists") {
				t.Errorf("second keygen: %v, want already exists", err)
			}
			srv := dnstest.Start(t, zone)
			cfg := testConfig(t, []string{"dkim_sign"}, "filters:\n  dkim_sign:\n    keys: [{domain: example.org, selector: sel1, file: "+path+"}]\n")
			_, msg := transact(t, newChain(t, cfg, Deps{}), submitConn, "app@example.org", []string{"a@example.net"}, submitted)
			if got := verifyAll(t, srv, final(msg)); !reflect.DeepEqual(got, []string{"pass"}) {
				t.Errorf("verify with the published record: %v", got)
			}
		})
	}
	if _, _, err := WriteDKIMKey(t.TempDir(), "example.org", "a.b", "rsa"); err == nil {
		t.Error("selector with a dot accepted")
	}
	if _, _, err := WriteDKIMKey(t.TempDir(), "example.org", "s", "dsa"); err == nil {
		t.Error("algorithm dsa accepted")
	}
}
