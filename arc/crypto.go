package arc

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// LookupTXT returns the TXT records of a name (a resolver's method).
type LookupTXT func(ctx context.Context, name string) ([]string, error)

// minRSABits is the smallest key accepted (RFC 8301).
const minRSABits = 1024

// sign signs the SHA-256 of data with an RSA key (rsa-sha256, the one
// algorithm RFC 8617 defines).
func sign(key crypto.Signer, data string) (string, error) {
	if _, ok := key.Public().(*rsa.PublicKey); !ok {
		return "", errors.New("arc: the key is not RSA; ARC signs with rsa-sha256 only")
	}
	sum := sha256.Sum256([]byte(data))
	sig, err := key.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// verify checks an rsa-sha256 signature b over data with the key
// published at selector._domainkey.domain.
func verify(ctx context.Context, lookup LookupTXT, domain, selector, algo, b, data string) error {
	if !strings.EqualFold(algo, "rsa-sha256") {
		return fmt.Errorf("algorithm %q is not rsa-sha256", algo)
	}
	pub, err := publicKey(ctx, lookup, domain, selector)
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(b)
	if err != nil {
		return errors.New("b= is not base64")
	}
	sum := sha256.Sum256([]byte(data))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		return errors.New("the signature does not match")
	}
	return nil
}

// publicKey fetches and parses the DKIM key record (RFC 6376 section
// 3.6.1) of selector and domain.
func publicKey(ctx context.Context, lookup LookupTXT, domain, selector string) (*rsa.PublicKey, error) {
	if domain == "" || selector == "" || strings.ContainsAny(domain+selector, " \t;") {
		return nil, errors.New("d= or s= is missing or malformed")
	}
	txts, err := lookup(ctx, selector+"._domainkey."+domain)
	if err != nil || len(txts) == 0 {
		return nil, fmt.Errorf("no key record for %s._domainkey.%s", selector, domain)
	}
	t, ok := tags(strings.Join(txts, ""))
	if !ok || t["p"] == "" {
		return nil, errors.New("the key record is malformed or revoked")
	}
	if k, has := t["k"]; has && !strings.EqualFold(k, "rsa") {
		return nil, fmt.Errorf("key type %q is not rsa", k)
	}
	der, err := base64.StdEncoding.DecodeString(t["p"])
	if err != nil {
		return nil, errors.New("the key record's p= is not base64")
	}
	return parseRSA(der)
}

// parseRSA reads an RSA public key as SubjectPublicKeyInfo, or as the
// bare PKCS#1 form some publishers use.
func parseRSA(der []byte) (*rsa.PublicKey, error) {
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		if r, ok := k.(*rsa.PublicKey); ok && r.N.BitLen() >= minRSABits {
			return r, nil
		}
		return nil, errors.New("the key is not an RSA key of 1024 bits or more")
	}
	r, err := x509.ParsePKCS1PublicKey(der)
	if err != nil || r.N.BitLen() < minRSABits {
		return nil, errors.New("the key record holds no usable RSA key")
	}
	return r, nil
}
