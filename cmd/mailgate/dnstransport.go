package main

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"mailgate/config"
)

// writeTransportRecords prints what other servers read before sending
// to domain over TLS: the MTA-STS record (when a policy is published),
// where to send TLS reports, and the TLSA record of our certificate.
func writeTransportRecords(w io.Writer, cfg *config.Config, domain string) {
	d, host := domain+".", strings.TrimSuffix(cfg.Hostname, ".")+"."
	if m := cfg.MTASTS; m.Mode != "" {
		policy := mtaSTSPolicy(m.Mode, m.PolicyMX(cfg.Hostname), int64(m.MaxAge.D().Seconds()))
		fmt.Fprintf(w, "\n; MTA-STS (RFC 8461): mode %s; the http listener serves the policy as https://mta-sts.%s/.well-known/mta-sts.txt\n", m.Mode, domain)
		fmt.Fprintf(w, "; (its certificate must name mta-sts.%s); the id changes whenever the policy does\n", domain)
		fmt.Fprintf(w, "_mta-sts.%s 3600 IN TXT \"v=STSv1; id=%s\"\n", d, policyID(policy))
		fmt.Fprintf(w, "mta-sts.%s 3600 IN CNAME %s\n", d, host)
	} else {
		fmt.Fprintf(w, "\n; MTA-STS: no policy published (set mta_sts.mode to publish one)\n")
	}
	fmt.Fprintf(w, "\n; TLS reporting (RFC 8460): where other servers send reports about TLS to %s\n", domain)
	fmt.Fprintf(w, "_smtp._tls.%s 3600 IN TXT \"v=TLSRPTv1; rua=mailto:%s\"\n", d, cfg.ReportContact())
	files := servedCertFiles(cfg)
	var spkis [][]byte
	for _, file := range files {
		spki, err := certSPKI(file)
		if err != nil {
			fmt.Fprintf(w, "\n; DANE: no TLSA record: %v\n", err)
			return
		}
		spkis = append(spkis, spki)
	}
	fmt.Fprintf(w, "\n; DANE (RFC 7672), only if the zone of %s is DNSSEC-signed: publish the new record before changing the key\n", cfg.Hostname)
	if len(spkis) > 1 {
		fmt.Fprintf(w, "; one record per certificate (tls.more_certificates): a client may be given any of them\n")
	}
	for _, spki := range spkis {
		fmt.Fprintf(w, "_25._tcp.%s 3600 IN TLSA 3 1 1 %x\n", host, sha256.Sum256(spki))
	}
}

// servedCertFiles are the files of the certificates the SMTP listeners
// present: tls.cert_file and more_certificates; with tls.acme, the
// hostname's certificate in the ACME cache (autocert keeps its key
// across renewals, so the TLSA record stays right); else the generated
// self-signed one.
func servedCertFiles(cfg *config.Config) []string {
	if files := cfg.TLS.CertFiles(); len(files) > 0 {
		return files
	}
	if cfg.TLS.ACME != nil {
		return []string{filepath.Join(cfg.DataDir, "acme", strings.TrimSuffix(strings.ToLower(cfg.Hostname), "."))}
	}
	return []string{filepath.Join(cfg.DataDir, "tls", "selfsigned.crt")}
}

// certSPKI reads the public key of the first certificate in file (the
// ACME cache puts the private key before it).
func certSPKI(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read the certificate %s (start `mailgate serve` once to generate or obtain it)", file)
	}
	var blk *pem.Block
	for blk, b = pem.Decode(b); blk != nil && blk.Type != "CERTIFICATE"; blk, b = pem.Decode(b) {
	}
	if blk == nil {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	return c.RawSubjectPublicKeyInfo, nil
}

// policyID is a stable id for a policy text: it changes exactly when the
// policy does, which is what RFC 8461 §3.1 asks of the id.
func policyID(policy string) string {
	return fmt.Sprintf("%x", sha256.Sum256([]byte(policy)))[:20]
}
