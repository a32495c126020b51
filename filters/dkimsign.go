package filters

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"mailgate/config"
	"mailgate/internal/mailmsg"
)

// signedHeaders is the header set RFC 6376 section 5.4.1 recommends. Each
// present field is signed as many times as it occurs; From and Subject
// once more (over-signing), so that adding a second one breaks the
// signature.
var signedHeaders = []string{
	"From", "Reply-To", "Subject", "Date", "To", "Cc", "Resent-Date", "Resent-From",
	"Resent-To", "Resent-Cc", "In-Reply-To", "References", "List-Id", "List-Help",
	"List-Unsubscribe", "List-Subscribe", "List-Post", "List-Owner", "List-Archive",
	"Message-ID", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
}

var overSigned = map[string]bool{"From": true, "Subject": true}

type dkimKey struct {
	domain, selector string
	signer           crypto.Signer
}

func (k dkimKey) algorithm() string {
	if _, ok := k.signer.Public().(ed25519.PublicKey); ok {
		return "ed25519"
	}
	return "rsa"
}

// dkimSignFilter signs outgoing messages with every key of the header
// From's domain (so RSA and Ed25519 can sign together), or of the default
// domain. It is a Decorator: it runs after every check of the chain.
type dkimSignFilter struct {
	keys          map[string][]dkimKey // by lower-case domain
	defaultDomain string
	expiration    time.Duration
	now           func() time.Time
	metrics       *Metrics
}

func newDKIMSign(c *DKIMSignConfig, _ *config.Config, deps Deps) (*dkimSignFilter, error) {
	f := &dkimSignFilter{keys: map[string][]dkimKey{}, defaultDomain: strings.ToLower(c.DefaultDomain),
		expiration: c.Expiration.D(), now: deps.Now, metrics: deps.Metrics}
	for _, k := range c.Keys {
		key, err := k.Load()
		if err != nil {
			return nil, err
		}
		d := strings.ToLower(k.Domain)
		f.keys[d] = append(f.keys[d], dkimKey{domain: d, selector: k.Selector, signer: key})
	}
	return f, nil
}

func (f *dkimSignFilter) Name() string             { return "dkim_sign" }
func (f *dkimSignFilter) Begin(conn *Conn) Session { return f }
func (f *dkimSignFilter) Close()                   {}

// Decorate signs Prepend+Header+Body and puts the signatures on top.
func (f *dkimSignFilter) Decorate(ctx context.Context, st *State, msg *Message) error {
	head := make([]byte, 0, len(msg.Prepend)+len(msg.Header))
	head = append(append(head, msg.Prepend...), msg.Header...)
	keys := f.keys[mailmsg.Domain(fromAddress(head))]
	if len(keys) == 0 {
		keys = f.keys[f.defaultDomain]
	}
	if len(keys) == 0 {
		f.metrics.signatures.WithLabelValues("none").Inc()
		return nil
	}
	var sigs []byte
	hk := headerKeys(head)
	for _, k := range keys {
		sig, err := f.sign(io.MultiReader(bytes.NewReader(head), bodyReader(msg.Body)), k, hk)
		if err != nil {
			return err
		}
		sigs = append(sigs, sig...)
		f.metrics.signatures.WithLabelValues(k.algorithm()).Inc()
	}
	msg.Prepend = append(sigs, msg.Prepend...)
	return nil
}

// sign hashes the message as it streams by: a large body is read from
// disk, never held.
func (f *dkimSignFilter) sign(full io.Reader, k dkimKey, hk []string) ([]byte, error) {
	opts := &dkim.SignOptions{
		Domain: k.domain, Selector: k.selector, Signer: k.signer, Hash: crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed,
		BodyCanonicalization:   dkim.CanonicalizationRelaxed,
		HeaderKeys:             hk,
	}
	if f.expiration > 0 {
		opts.Expiration = f.now().Add(f.expiration)
	}
	s, err := dkim.NewSigner(opts)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(s, full); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.Close(); err != nil {
		return nil, err
	}
	return []byte(s.Signature()), nil
}

// headerKeys lists the recommended fields present in the message, each as
// often as it occurs, From and Subject once more.
func headerKeys(raw []byte) []string {
	fields, _ := headerFields(raw)
	count := map[string]int{}
	for _, fl := range fields {
		count[strings.ToLower(fl.Name)]++
	}
	var keys []string
	for _, h := range signedHeaders {
		n := count[strings.ToLower(h)]
		if overSigned[h] {
			n++
		}
		for range n {
			keys = append(keys, h)
		}
	}
	return keys
}
