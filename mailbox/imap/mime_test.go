package imap

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"mailgate/internal/mimetree"
)

// ordinaryMessages are shapes real mail has; on them the linear parser
// must give what go-imap's own (nested-reader) functions give.
var ordinaryMessages = map[string]string{
	"plain": "From: a@b.test\r\nSubject: hi\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nhello\r\nworld\r\n",
	"mixed": "Subject: m\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n" +
		"preamble\r\n--XX\r\nContent-Type: text/plain; charset=us-ascii\r\nContent-Disposition: inline\r\n\r\nbody one\r\n" +
		"--XX\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename=a.pdf\r\nContent-Id: <c1@x>\r\nContent-Description: a file\r\n\r\n" +
		"aGVsbG8gd29ybGQ=\r\n--XX--\r\nepilogue\r\n",
	"nested": "Content-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n" +
		"Content-Type: multipart/alternative; boundary=inner\r\n\r\n--inner\r\nContent-Type: text/plain\r\n\r\nplain text\r\n" +
		"--inner\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p>caf=C3=A9</p>\r\n--inner--\r\n" +
		"--outer\r\nContent-Type: image/png\r\nContent-Language: en, fr\r\nContent-Location: http://x.test/a.png\r\n\r\nPNG\r\n--outer--\r\n",
	"rfc822": "Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--b1\r\nContent-Type: message/rfc822\r\n\r\nFrom: Inner <in@x.test>\r\nSubject: inner one\r\n" +
		"Content-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\nContent-Type: text/plain\r\n\r\ninner text\r\n" +
		"--b2\r\nContent-Type: text/html\r\n\r\n<b>inner</b>\r\n--b2--\r\n\r\n--b1--\r\n",
	"lf only": "Content-Type: multipart/mixed; boundary=z\n\n--z\nContent-Type: text/plain\n\nline\n--z\n" +
		"Content-Type: text/plain; charset=iso-8859-1\n\nsecond\n--z--\n",
	"padding": "Content-Type: multipart/mixed; boundary=\"pad\"\r\n\r\n--pad \t\r\nContent-Type: text/plain\r\n\r\nx\r\n--pad--  \r\n",
}

// TestMIMEMatchesGoIMAP: BODYSTRUCTURE, every BODY[part], BODY[part.MIME],
// BODY[part.HEADER/TEXT] and BINARY[part] agree with imapserver's
// functions on ordinary messages.
func TestMIMEMatchesGoIMAP(t *testing.T) {
	t.Parallel()
	for name, msg := range ordinaryMessages {
		data := []byte(msg)
		root := mimetree.Parse(data)
		got, want := bodyStructure(data, root), imapserver.ExtractBodyStructure(bytes.NewReader(data))
		// The ENVELOPE of a message/rfc822 part is ours (groups kept,
		// Sender and Reply-To defaulting to From), not imapserver's.
		noEnvelope := func(_ []int, p goimap.BodyStructure) bool {
			if sp, ok := p.(*goimap.BodyStructureSinglePart); ok && sp.MessageRFC822 != nil {
				sp.MessageRFC822.Envelope = nil
			}
			return true
		}
		got.Walk(noEnvelope)
		want.Walk(noEnvelope)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: BODYSTRUCTURE\n got %s\nwant %s", name, dump(got), dump(want))
		}
		want.Walk(func(path []int, part goimap.BodyStructure) bool {
			for _, spec := range []goimap.PartSpecifier{goimap.PartSpecifierNone, goimap.PartSpecifierText, goimap.PartSpecifierHeader} {
				bs := &goimap.FetchItemBodySection{Part: path, Specifier: spec}
				if spec == goimap.PartSpecifierHeader && part.MediaType() != "message/rfc822" {
					continue
				}
				if len(path) == 0 && spec == goimap.PartSpecifierNone {
					continue
				}
				g, w := bodySection(data, root, bs), imapserver.ExtractBodySection(bytes.NewReader(data), bs)
				if !bytes.Equal(g, w) {
					t.Errorf("%s: BODY[%v %v] = %q, want %q", name, path, spec, g, w)
				}
			}
			if len(path) > 0 {
				item := &goimap.FetchItemBinarySection{Part: path}
				g, w := binarySection(data, root, item), imapserver.ExtractBinarySection(bytes.NewReader(data), item)
				// imapserver gives nothing for a charset it cannot convert
				// (BINARY should not convert charsets at all).
				if w != nil && !bytes.Equal(g, w) {
					t.Errorf("%s: BINARY[%v] = %q, want %q", name, path, g, w)
				}
			}
			return true
		})
	}
}

func dump(bs goimap.BodyStructure) string {
	var b strings.Builder
	var walk func(goimap.BodyStructure)
	walk = func(bs goimap.BodyStructure) {
		switch bs := bs.(type) {
		case *goimap.BodyStructureMultiPart:
			fmt.Fprintf(&b, "(multipart/%s %v %+v [", bs.Subtype, bs.Extended.Params, *bs.Extended)
			for _, c := range bs.Children {
				walk(c)
			}
			b.WriteString("])")
		case *goimap.BodyStructureSinglePart:
			fmt.Fprintf(&b, "(%s/%s %v id=%q enc=%q size=%d text=%v ext=%+v", bs.Type, bs.Subtype, bs.Params, bs.ID, bs.Encoding, bs.Size, bs.Text, *bs.Extended)
			if m := bs.MessageRFC822; m != nil {
				fmt.Fprintf(&b, " lines=%d ", m.NumLines)
				walk(m.BodyStructure)
			}
			b.WriteString(")")
		}
	}
	walk(bs)
	return b.String()
}

// TestNestingCap: parts are opened down to mimetree.MaxDepth levels and
// the rest is one leaf, in BODYSTRUCTURE, BODY[part] and SEARCH alike.
func TestNestingCap(t *testing.T) {
	t.Parallel()
	data := mimetree.Nested(8000, "needle")
	root := mimetree.Parse(data)
	depth, p := 0, root
	var path []int
	for p.Multipart() {
		if len(p.Children) != 1 {
			t.Fatalf("level %d has %d parts, want 1", depth, len(p.Children))
		}
		p = p.Children[0]
		path = append(path, 1)
		depth++
	}
	if depth != mimetree.MaxDepth || !p.Capped {
		t.Fatalf("opened %d levels (capped %v), want %d", depth, p.Capped, mimetree.MaxDepth)
	}
	leaf := string(p.Body(data))
	if !strings.HasPrefix(leaf, "--b100\r\n") || !strings.Contains(leaf, "needle") || !strings.HasSuffix(leaf, "--b100--") {
		t.Fatalf("the capped leaf's body starts %q and ends %q", leaf[:20], leaf[len(leaf)-20:])
	}
	bs := bodyStructure(data, root)
	var innermost goimap.BodyStructure
	n := 0
	bs.Walk(func(_ []int, part goimap.BodyStructure) bool { innermost = part; n++; return true })
	if n != mimetree.MaxDepth+1 || innermost.MediaType() != "application/octet-stream" {
		t.Fatalf("BODYSTRUCTURE has %d parts, innermost %s; want %d, application/octet-stream", n, innermost.MediaType(), mimetree.MaxDepth+1)
	}
	if got := bodySection(data, root, &goimap.FetchItemBodySection{Part: path}); string(got) != leaf {
		t.Fatalf("BODY[1.1...(100)] is not the capped leaf's body")
	}
	if got := bodySection(data, root, &goimap.FetchItemBodySection{Part: append(path, 2)}); got != nil {
		t.Fatalf("a part below the cap was found: %q", got[:min(len(got), 40)])
	}
	if matchText(data, root, []byte("needle"), true) {
		t.Fatalf("SEARCH TEXT found text inside a part below the cap, which is opaque (not text)")
	}
}

// TestMaxParts: a flat multipart with more parts than mimetree.MaxParts
// lists MaxParts of them; the last one holds the rest.
func TestMaxParts(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	b.WriteString("Content-Type: multipart/mixed; boundary=p\r\n\r\n")
	for i := 0; i < mimetree.MaxParts+50; i++ {
		fmt.Fprintf(&b, "--p\r\n\r\npart %d\r\n", i)
	}
	b.WriteString("--p--\r\n")
	data := b.Bytes()
	root := mimetree.Parse(data)
	if n := len(root.Children); n != mimetree.MaxParts-1 {
		t.Fatalf("%d parts, want %d", n, mimetree.MaxParts-1)
	}
	last := string(root.Children[len(root.Children)-1].Body(data))
	if !strings.HasPrefix(last, fmt.Sprintf("part %d", mimetree.MaxParts-2)) || !strings.HasSuffix(last, fmt.Sprintf("part %d", mimetree.MaxParts+49)) {
		t.Fatalf("the last part is %q ... %q", last[:20], last[len(last)-20:])
	}
}

// BenchmarkNestedMIME is issue 14's attack through a live server: a
// message nested 8,000 levels deep (565 KB) and one nested 50,000 levels
// (3.7 MB), FETCH BODYSTRUCTURE and SEARCH TEXT for a word that is not
// there (so every part is read). Figures in TESTING.md.
func BenchmarkNestedMIME(b *testing.B) {
	for _, depth := range []int{8000, 50000} {
		env := startServer(b, nil)
		msg := mimetree.Nested(depth, "needle")
		if err := env.store.Deliver(context.Background(), alice, "", msg, false); err != nil {
			b.Fatal(err)
		}
		c := benchClient(b, env)
		b.Run(fmt.Sprintf("depth=%d/FETCH_BODYSTRUCTURE", depth), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for i := 0; i < b.N; i++ {
				msgs, err := c.Fetch(goimap.SeqSetNum(1), &goimap.FetchOptions{BodyStructure: &goimap.FetchItemBodyStructure{Extended: true}}).Collect()
				if err != nil || len(msgs) != 1 {
					b.Fatalf("FETCH: %d, %v", len(msgs), err)
				}
			}
		})
		b.Run(fmt.Sprintf("depth=%d/SEARCH_TEXT", depth), func(b *testing.B) {
			b.SetBytes(int64(len(msg)))
			for i := 0; i < b.N; i++ {
				if _, err := c.Search(&goimap.SearchCriteria{Text: []string{"absent"}}, nil).Wait(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestLongCommandStopsWhenClientLeaves: a client asks for SEARCH TEXT
// over 1,000 nested messages (seconds of work) and hangs up at once; the
// server notices between messages and stops, instead of searching on
// for nobody.
func TestLongCommandStopsWhenClientLeaves(t *testing.T) {
	t.Parallel()
	logs := &lockedBuffer{}
	env := startServer(t, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	if _, err := env.store.Messages(alice, "INBOX"); err != nil {
		t.Fatal(err)
	}
	cur := filepath.Join(env.dir, alice, "cur")
	first := filepath.Join(cur, "1700000000.nest00000.host:2,")
	if err := os.WriteFile(first, mimetree.Nested(8000, "needle"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 1000; i++ { // one file's bytes, a thousand messages
		if err := os.Link(first, filepath.Join(cur, fmt.Sprintf("1700000000.nest%05d.host:2,", i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, cmd := range []string{"s SEARCH TEXT absent", "f FETCH 1:* BODYSTRUCTURE"} {
		c := dialRaw(t, env.tlsAddr, true)
		c.line()
		c.send("a LOGIN alice secret\r\nb SELECT INBOX\r\n")
		c.until("b OK")
		c.send(cmd + "\r\n")
		c.conn.Close()
	}
	// FETCH may also stop at its first write to the closed connection;
	// either way both connections end long before the work would.
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "imap command abandoned: the client closed the connection\" session=i1") ||
		value(t, env.srv.metrics.active) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the server did not stop SEARCH and FETCH after the client left:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMessageNestingCap: message/rfc822 parts count as levels too; past
// the cap the rest is opaque to BODYSTRUCTURE and SEARCH alike (the
// capped part's own header, "level 100", is still a header).
func TestMessageNestingCap(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	for i := 0; i < 120; i++ {
		fmt.Fprintf(&b, "Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n", i)
	}
	b.WriteString("Subject: bottom\r\n\r\nneedle\r\n")
	data := b.Bytes()
	root := mimetree.Parse(data)
	levels := 0
	var innermost goimap.BodyStructure
	for bs := bodyStructure(data, root); bs != nil; levels++ {
		innermost = bs
		sp := bs.(*goimap.BodyStructureSinglePart)
		if sp.MessageRFC822 == nil {
			break
		}
		bs = sp.MessageRFC822.BodyStructure
	}
	if levels != mimetree.MaxDepth || innermost.MediaType() != "application/octet-stream" {
		t.Fatalf("%d message levels, innermost %s; want %d, application/octet-stream", levels, innermost.MediaType(), mimetree.MaxDepth)
	}
	for pattern, want := range map[string]bool{"level 100": true, "level 101": false, "needle": false} {
		if got := matchText(data, root, []byte(pattern), true); got != want {
			t.Errorf("SEARCH TEXT %q = %v, want %v", pattern, got, want)
		}
	}
}
