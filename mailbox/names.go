package mailbox

import (
	"errors"
	"strings"
	"unicode/utf8"
)

// Delimiter separates levels of folder names as clients see them
// ("Archive/2024"). On disk Maildir++ uses "." instead (".Archive.2024").
const Delimiter = "/"

// Inbox is the name of every account's root folder.
const Inbox = "INBOX"

// maxFolderName bounds a folder name in bytes, so that the directory name
// stays well under the 255-byte limit of common file systems.
const maxFolderName = 200

// ErrBadFolderName is wrapped by every folder-name rejection; the text
// after it says what to write instead.
var ErrBadFolderName = errors.New("invalid folder name")

// NameError says why a folder name was refused, in words a client can
// show to its user.
type NameError struct {
	Name   string
	Reason string
}

func (e *NameError) Error() string { return "folder name " + e.Reason }

func (e *NameError) Unwrap() error { return ErrBadFolderName }

// CanonicalFolder checks a client-supplied folder name and returns its
// canonical form: "INBOX" in any letter case becomes "INBOX". Only names
// that pass this check ever become paths, so "../x", "/etc", "a\x00b" and
// "a/../../b" never reach the file system.
func CanonicalFolder(name string) (string, error) {
	if strings.EqualFold(name, Inbox) {
		return Inbox, nil
	}
	bad := func(reason string) (string, error) { return "", &NameError{Name: name, Reason: reason} }
	switch {
	case name == "":
		return bad("is empty; give a name such as Projects")
	case len(name) > maxFolderName:
		return bad("is too long; use at most 200 bytes")
	case !utf8.ValidString(name):
		return bad("is not valid UTF-8")
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return bad("contains a control character; use letters, digits and punctuation")
		}
		switch r {
		case '.':
			return bad("contains '.', which separates folders on disk; use '-' or '_' instead")
		case '\\', '*', '%', '~':
			return bad("contains '" + string(r) + "'; use letters, digits, '-' or '_' instead")
		}
	}
	parts := strings.Split(name, Delimiter)
	for _, p := range parts {
		if p == "" {
			return bad("has an empty level (leading, trailing or doubled '/'); write levels like Archive/2024")
		}
		if strings.TrimSpace(p) != p {
			return bad("has a level starting or ending with a space; remove the space")
		}
	}
	if strings.EqualFold(parts[0], Inbox) {
		return bad("puts a folder under INBOX; create it at the top level instead")
	}
	return name, nil
}

// dirName maps a canonical folder name to its directory below the
// account's Maildir: "" for INBOX, ".A.B" for "A/B".
func dirName(canonical string) string {
	if canonical == Inbox {
		return ""
	}
	return "." + strings.ReplaceAll(canonical, Delimiter, ".")
}

// folderFromDir maps a Maildir++ directory name back to a folder name; ok
// is false for names that are not folders (or would not pass
// CanonicalFolder, such as ones another tool created).
func folderFromDir(dir string) (string, bool) {
	if len(dir) < 2 || dir[0] != '.' || dir == ".." {
		return "", false
	}
	name := strings.ReplaceAll(dir[1:], ".", Delimiter)
	c, err := CanonicalFolder(name)
	if err != nil || c == Inbox {
		return "", false
	}
	return c, true
}

// Special-use attributes (RFC 6154).
const (
	UseSent    = `\Sent`
	UseDrafts  = `\Drafts`
	UseTrash   = `\Trash`
	UseJunk    = `\Junk`
	UseArchive = `\Archive`
)

// DefaultFolders are created for every account, with their special use.
var DefaultFolders = []struct{ Name, Use string }{
	{"Sent", UseSent},
	{"Drafts", UseDrafts},
	{"Trash", UseTrash},
	{"Junk", UseJunk},
	{"Archive", UseArchive},
}

// specialUse returns the SPECIAL-USE attribute of a top-level default
// folder, or "".
func specialUse(name string) string {
	for _, d := range DefaultFolders {
		if d.Name == name {
			return d.Use
		}
	}
	return ""
}

// accountDir checks an account name before it becomes a directory name.
// Accounts are addresses such as alice@example.com, lower-cased by the
// caller's account list.
func accountDir(account string) (string, error) {
	if account == "" || len(account) > 254 || account[0] == '.' {
		return "", errors.New("invalid account name")
	}
	for i := 0; i < len(account); i++ {
		c := account[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.IndexByte("@.-_+=", c) >= 0
		if !ok {
			return "", errors.New("invalid account name")
		}
	}
	if strings.Contains(account, "..") {
		return "", errors.New("invalid account name")
	}
	return account, nil
}
