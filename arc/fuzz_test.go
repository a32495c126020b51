package arc

import (
	"context"
	"testing"
)

// FuzzVerify: any header and body give a result, never a panic; a
// result is one of none, pass or fail, and pass needs the test key.
func FuzzVerify(f *testing.F) {
	f.Add([]byte("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=x; s=y; b=AAAA\r\n" +
		"ARC-Message-Signature: i=1; a=rsa-sha256; c=simple; d=x; s=y; h=from; bh=; b=\r\n" +
		"ARC-Authentication-Results: i=1; x; spf=pass\r\nFrom: a@b\r\n\r\nbody\r\n"))
	f.Add([]byte("ARC-Seal: i=51; cv=;;\r\nARC-Seal: i=0\r\nARC-Message-Signature: i=1; h=ARC-Seal\r\n\r\n"))
	f.Add([]byte("arc-seal:\r\n\t\r\n"))
	lookup := func(context.Context, string) ([]string, error) {
		return []string{"v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB"}, nil
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		r := Verify(context.Background(), msg, lookup)
		switch r.Status {
		case None, Pass, Fail:
		default:
			t.Fatalf("status %q", r.Status)
		}
		_ = OwnResults(msg, "x")
	})
}
