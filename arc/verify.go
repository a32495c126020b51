package arc

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
)

// maxVerifySets bounds the key lookups one message can cause: a chain
// longer than this fails without a lookup. RFC 8617 allows 50; real
// chains have a handful of sets.
const maxVerifySets = 16

// Result is what Verify found.
type Result struct {
	Status string // None, Pass or Fail
	Reason string // why it failed, for logs and the result's comment
	// Sealers are the d= of each ARC-Seal, instance 1 first; Results the
	// matching ARC-Authentication-Results bodies after "i=N;". Both are
	// set only when Status is Pass.
	Sealers []string
	Results []string
}

// Verify checks the ARC chain of msg as RFC 8617 section 5.2 says: every
// set complete and numbered 1..N, the cv= values consistent, the newest
// ARC-Message-Signature and every ARC-Seal valid.
func Verify(ctx context.Context, msg []byte, lookup LookupTXT) Result {
	fields, body := split(msg)
	return verifyFields(ctx, fields, bytes.NewReader(body), lookup)
}

// VerifyHeader is Verify for a message given as its header section and
// a reader of its body (read only when the chain is worth checking).
func VerifyHeader(ctx context.Context, header []byte, body io.Reader, lookup LookupTXT) Result {
	fields, _ := split(header)
	return verifyFields(ctx, fields, body, lookup)
}

func verifyFields(ctx context.Context, fields []field, body io.Reader, lookup LookupTXT) Result {
	if !hasARC(fields) {
		return Result{Status: None}
	}
	ss, ok := sets(fields)
	if !ok {
		return failed("the ARC sets are incomplete, duplicated or not numbered 1 to N")
	}
	if len(ss) > maxVerifySets {
		return failed(fmt.Sprintf("the chain has %d sets, more than the %d checked", len(ss), maxVerifySets))
	}
	if r, bad := checkCV(ss); bad {
		return r
	}
	if err := verifyAMS(ctx, lookup, fields, body, ss[len(ss)-1]); err != nil {
		return failed(fmt.Sprintf("ARC-Message-Signature i=%d: %v", len(ss), err))
	}
	res := Result{Status: Pass}
	for k := len(ss); k >= 1; k-- {
		d, err := verifySeal(ctx, lookup, ss[:k])
		if err != nil {
			return failed(fmt.Sprintf("ARC-Seal i=%d: %v", k, err))
		}
		res.Sealers = append([]string{d}, res.Sealers...)
	}
	for _, s := range ss {
		_, after, _ := strings.Cut(compress(s.aar.RawValue()), ";")
		res.Results = append(res.Results, strings.TrimSpace(after))
	}
	return res
}

func failed(reason string) Result { return Result{Status: Fail, Reason: reason} }

// checkCV requires cv=none on the first seal, cv=pass on the others; a
// chain whose newest seal says fail has failed.
func checkCV(ss []set) (Result, bool) {
	for n, s := range ss {
		t, ok := tags(s.seal.RawValue())
		if !ok {
			return failed(fmt.Sprintf("ARC-Seal i=%d is malformed", n+1)), true
		}
		cv := strings.ToLower(t["cv"])
		switch {
		case n == len(ss)-1 && cv == Fail:
			return failed(fmt.Sprintf("ARC-Seal i=%d says the chain had failed", n+1)), true
		case n == 0 && cv != None, n > 0 && cv != Pass:
			return failed(fmt.Sprintf("ARC-Seal i=%d has cv=%s", n+1, cv)), true
		}
	}
	return Result{}, false
}

// verifyAMS checks the body hash and signature of one
// ARC-Message-Signature.
func verifyAMS(ctx context.Context, lookup LookupTXT, fields []field, body io.Reader, s set) error {
	v := s.ams.RawValue()
	t, ok := tags(v)
	if !ok || !has(t, "i", "a", "b", "bh", "d", "s") {
		return fmt.Errorf("malformed or missing tags")
	}
	if _, ok := t["h"]; !ok {
		return fmt.Errorf("h= is missing")
	}
	simpleHead, simpleBody, ok := canonOf(t)
	if !ok {
		return fmt.Errorf("c= %q is not simple or relaxed for header and body", t["c"])
	}
	h := strings.Split(t["h"], ":")
	for _, name := range h {
		if strings.EqualFold(strings.TrimSpace(name), hSeal) {
			return fmt.Errorf("h= signs ARC-Seal")
		}
	}
	bh, err := bodyHashReader(body, simpleBody)
	if err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	if t["bh"] != bh {
		return fmt.Errorf("the body hash does not match (the body changed)")
	}
	return verify(ctx, lookup, t["d"], t["s"], t["a"], t["b"], amsData(fields, h, *s.ams, simpleHead))
}

// canonOf reads c= (RFC 6376 section 3.5): "header/body", each simple or
// relaxed, the body part defaulting to simple. A missing c= is taken as
// relaxed/relaxed, as ARC signers write it.
func canonOf(t map[string]string) (simpleHead, simpleBody, ok bool) {
	c, present := t["c"]
	if !present {
		return false, false, true
	}
	head, body, hasBody := strings.Cut(strings.ToLower(c), "/")
	if !hasBody {
		body = "simple"
	}
	valid := func(s string) bool { return s == "simple" || s == "relaxed" }
	if !valid(head) || !valid(body) {
		return false, false, false
	}
	return head == "simple", body == "simple", true
}

// verifySeal checks the seal of the last set of ss over ss, returning its
// d=.
func verifySeal(ctx context.Context, lookup LookupTXT, ss []set) (string, error) {
	v := ss[len(ss)-1].seal.RawValue()
	t, _ := tags(v)
	if !has(t, "i", "a", "b", "cv", "d", "s") {
		return "", fmt.Errorf("malformed or missing tags")
	}
	if _, bad := t["h"]; bad {
		return "", fmt.Errorf("h= is not allowed in a seal")
	}
	return strings.ToLower(t["d"]), verify(ctx, lookup, t["d"], t["s"], t["a"], t["b"], sealData(ss, v))
}

func has(t map[string]string, keys ...string) bool {
	for _, k := range keys {
		if t[k] == "" {
			return false
		}
	}
	return true
}
