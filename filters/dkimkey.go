package filters

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"mailgate/config"
)

// GenerateDKIMKey makes a signing key: "rsa" (2048 bits) or "ed25519"
// (RFC 8463). It returns the key as PKCS#8 PEM, the form the dkim_sign
// filter reads.
func GenerateDKIMKey(algorithm string) (crypto.Signer, []byte, error) {
	var key crypto.Signer
	var err error
	switch algorithm {
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, nil, fmt.Errorf("unknown algorithm %q; use rsa or ed25519", algorithm)
	}
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// DKIMRecord returns the TXT record value that publishes pub (RFC 6376
// section 3.6.1; RFC 8463 for Ed25519).
func DKIMRecord(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", err
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	}
	return "", fmt.Errorf("key type %T is not supported; use RSA or Ed25519", pub)
}

// DKIMZoneLine renders the record as a zone-file line for
// selector._domainkey.domain, split into strings of at most 255 octets as
// a TXT record requires.
func DKIMZoneLine(domain, selector, value string) string {
	var parts []string
	for len(value) > 255 {
		parts = append(parts, `"`+value[:255]+`"`)
		value = value[255:]
	}
	parts = append(parts, `"`+value+`"`)
	return fmt.Sprintf("%s._domainkey.%s. 3600 IN TXT %s", selector, strings.TrimSuffix(domain, "."), strings.Join(parts, " "))
}

// WriteDKIMKey generates a key for domain and selector, writes it to dir
// as DOMAIN.SELECTOR.pem with mode 0600 (never overwriting a file), and
// returns the file's path and the zone-file line to publish.
func WriteDKIMKey(dir, domain, selector, algorithm string) (path, zoneLine string, err error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if !config.IsDomain(domain) {
		return "", "", fmt.Errorf("%q is not a domain name; give the domain to sign for, such as example.com", domain)
	}
	if !config.IsDomain(selector) || strings.Contains(selector, ".") {
		return "", "", fmt.Errorf("%q is not a selector; use one DNS label, such as mg202611", selector)
	}
	key, pemData, err := GenerateDKIMKey(algorithm)
	if err != nil {
		return "", "", err
	}
	record, err := DKIMRecord(key.Public())
	if err != nil {
		return "", "", err
	}
	path = filepath.Join(dir, domain+"."+selector+".pem")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return "", "", fmt.Errorf("%s already exists; choose another selector, or move the old key away first", path)
	}
	if err != nil {
		return "", "", err
	}
	if _, err := f.Write(pemData); err != nil {
		f.Close()
		os.Remove(path)
		return "", "", err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return "", "", err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return "", "", err
	}
	return path, DKIMZoneLine(domain, selector, record), nil
}

// ParseDKIMKey reads a PEM private key: PKCS#8 (RSA or Ed25519) or PKCS#1
// RSA. RSA keys must have at least 1024 bits (RFC 8301).
func ParseDKIMKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("not PEM; write the path of a PEM private key made by `mailgate dkim keygen`")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key; use a PRIVATE KEY or RSA PRIVATE KEY file", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("unreadable private key (%v); make a new one with `mailgate dkim keygen`", err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return nil, fmt.Errorf("RSA key has %d bits; RFC 8301 needs at least 1024, use 2048", k.N.BitLen())
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("key type %T is not supported; use RSA or Ed25519", key)
}

// Load reads and parses the key's file; errors name the file.
func (k DKIMKey) Load() (crypto.Signer, error) {
	data, err := os.ReadFile(k.File)
	if err != nil {
		return nil, err
	}
	key, err := ParseDKIMKey(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.File, err)
	}
	return key, nil
}
