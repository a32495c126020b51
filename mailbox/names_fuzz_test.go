package mailbox

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCanonicalFolder checks that no accepted name can make a path that
// leaves the account directory or names something other than a folder.
func FuzzCanonicalFolder(f *testing.F) {
	for _, s := range []string{"INBOX", "a/b", "../x", "/etc", "a\x00b", ".", "..", "a/./b", "Caf\u00e9", "~root", "a\\b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		c, err := CanonicalFolder(name)
		if err != nil {
			return
		}
		d := dirName(c)
		if strings.ContainsAny(d, "/\x00\\") {
			t.Fatalf("%q -> dir %q", name, d)
		}
		root := "/acct"
		if p := filepath.Join(root, d); filepath.Dir(p) != root && p != root {
			t.Fatalf("%q -> path %q outside %s", name, p, root)
		}
		if c != Inbox {
			if back, ok := folderFromDir(d); !ok || back != c {
				t.Fatalf("%q -> %q -> %q, %v", name, d, back, ok)
			}
		}
	})
}
