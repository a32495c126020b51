package mailbox

import (
	"fmt"
	"strings"
)

// A folder's keyword vocabulary: every keyword that any of its messages
// has carried, in the order first seen, never shrinking (as Dovecot keeps
// a mailbox's keyword list). IMAP announces it in SELECT's FLAGS, so two
// sessions that selected the folder at different times know the same
// keywords even after the last message carrying one lost it or was
// expunged (imaptest's checkpoints compare exactly that). It is held in
// the index: each "+" and "f" record names a message's keywords, and a
// compacted index keeps the vocabulary in "w" records. Bounded by
// maxVocab: beyond it, keywords are still stored on messages, and IMAP
// still announces those it sees on messages.

const maxVocab = 1024

// vocab is the vocabulary: the keywords and their lower-case set.
type vocab struct {
	words []string
	seen  map[string]bool
}

// learn adds the keywords not known yet.
func (v *vocab) learn(kws []string) {
	for _, k := range kws {
		l := strings.ToLower(k)
		if v.seen[l] || len(v.words) >= maxVocab {
			continue
		}
		if v.seen == nil {
			v.seen = map[string]bool{}
		}
		v.seen[l] = true
		v.words = append(v.words, k)
	}
}

// records returns the "w" records of a compacted index.
func (v *vocab) records() string {
	var b strings.Builder
	for _, k := range v.words {
		fmt.Fprintf(&b, "w\t%s\n", k)
	}
	return b.String()
}
