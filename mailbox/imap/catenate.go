package imap

import (
	"errors"
	"io"
	"strconv"

	goimap "github.com/emersion/go-imap/v2"

	"mailgate/internal/mimetree"
	"mailgate/mailbox"
)

// CATENATE (RFC 4469): a message of an APPEND is built from parts, each
// new text (TEXT literal) or a message or part of one already in the
// account (URL, imapurl.go):
//
//	APPEND Drafts (\Seen) CATENATE (TEXT {42+}
//	...new header...
//	 URL "/INBOX;UIDVALIDITY=3/;UID=20/;SECTION=1" TEXT {9+}
//	...)
//
// The parts are written one after the other into one draft, TEXT
// streamed from the connection like any APPEND data; a URL that names
// nothing readable ends the command with NO [BADURL url], a message
// grown past APPENDLIMIT with NO [TOOBIG]; either way nothing is
// stored, of this message or of the others of a MULTIAPPEND.

// maxURL bounds a URL sent as a literal.
const maxURL = 8 << 10

// stageCatenate reads SP "(" cat-part *(SP cat-part) ")" into a draft.
func (c *conn) stageCatenate(cmd *command, args *argReader, name string, m appendItem) (*mailbox.Staged, error) {
	if args.sp() != nil || !args.take("(") {
		return nil, argErr{errors.New(`CATENATE needs a list of parts, such as (TEXT {12} URL "/INBOX/;UID=3")`)}
	}
	d, err := c.newDraft(name, false)
	if err != nil {
		return nil, err
	}
	if err := c.catenateParts(cmd, args, name, d); err != nil {
		d.Discard()
		return nil, err
	}
	return d.Finish(flagNames(m.flags), m.date)
}

// catenateParts copies each part into d, up to the list's ")".
func (c *conn) catenateParts(cmd *command, args *argReader, name string, d *mailbox.Draft) error {
	for n := 0; ; n++ {
		if args.take(")") {
			if n == 0 {
				return argErr{errors.New("CATENATE needs at least one part")}
			}
			return nil
		}
		if n > 0 && args.sp() != nil {
			return argErr{errors.New("CATENATE's parts are separated by spaces and the list ends with ')'")}
		}
		var err error
		switch {
		case args.takeFold("TEXT"):
			if args.sp() != nil || !atStream(cmd, args) {
				return argErr{errors.New("TEXT needs a literal, such as TEXT {12}")}
			}
			err = c.copyLiteral(cmd, args, name, d)
		case args.takeFold("URL"):
			var u string
			if u, err = c.urlArg(cmd, args); err == nil {
				err = c.copyURL(u, d)
			}
		default:
			return argErr{errors.New("a CATENATE part is TEXT literal or URL url")}
		}
		if err != nil {
			return err
		}
	}
}

// urlArg reads SP url: an atom, a quoted string, or a literal (which the
// reader left unread, as message data).
func (c *conn) urlArg(cmd *command, args *argReader) (string, error) {
	if args.sp() != nil {
		return "", argErr{errors.New("URL needs an IMAP URL")}
	}
	if !atStream(cmd, args) {
		u, err := args.astring()
		if err != nil {
			return "", argErr{err}
		}
		return u, nil
	}
	lit := cmd.stream
	if lit.size > maxURL {
		return "", &protoError{"Literal of " + strconv.FormatInt(lit.size, 10) + " bytes is over the limit of " +
			strconv.Itoa(maxURL) + " bytes for a URL; closing the connection"}
	}
	if !lit.nonSync {
		c.write("+ Ready for literal data")
	}
	buf := make([]byte, lit.size)
	if _, err := readFull(c.br, buf); err != nil {
		return "", err
	}
	cmd.stream = &literal{}
	return string(buf), c.nextMessage(cmd, args)
}

// copyURL copies what the URL names into d.
func (c *conn) copyURL(raw string, d io.Writer) error {
	u, err := parseIMAPURL(raw, c.sess.account)
	if err != nil {
		return badURL(raw, err.Error())
	}
	folder := u.mailbox
	if folder == "" {
		if c.sess.sel == nil {
			return badURL(raw, "a URL without a mailbox needs a selected mailbox")
		}
		folder = c.sess.sel.name
	}
	store := c.srv.opts.Store
	if u.uidValidity != 0 {
		st, err := store.Status(c.sess.account, folder)
		if err != nil || st.UIDValidity != u.uidValidity {
			return badURL(raw, "the mailbox does not exist or has another UIDVALIDITY")
		}
	}
	f, info, err := store.OpenMessage(c.sess.account, folder, u.uid)
	switch {
	case errors.Is(err, mailbox.ErrNoMessage), errors.Is(err, mailbox.ErrNoFolder), errors.As(err, new(*mailbox.NameError)):
		return badURL(raw, "no such message")
	case err != nil:
		return err
	}
	defer f.Close()
	return copyPart(d, f, info.Size, u, raw)
}

// copyPart copies the URL's section (and partial range) of a message.
func copyPart(d io.Writer, f io.ReaderAt, size int64, u *imapURL, raw string) error {
	if u.section == nil {
		off, n := u.partial.cut(size)
		_, err := io.Copy(d, io.NewSectionReader(f, off, n))
		return err
	}
	data := make([]byte, size)
	n, err := f.ReadAt(data, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	data = data[:n]
	root := mimetree.Parse(data)
	if findPart(root, u.section.Part) == nil {
		return badURL(raw, "the message has no such part")
	}
	buf := bodySection(data, root, u.section)
	off, l := u.partial.cut(int64(len(buf)))
	_, err = d.Write(buf[off : off+l])
	return err
}

// badURL is NO [BADURL url] (RFC 4469 §5).
func badURL(raw, why string) error {
	return &goimap.Error{Type: goimap.StatusResponseTypeNo, Code: goimap.ResponseCode("BADURL " + badURLText(raw)),
		Text: "CATENATE: " + why + "; nothing was appended"}
}
