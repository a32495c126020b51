package mimetree

import (
	"bytes"
	"strconv"
)

// Nested returns a message whose body is a multipart nested depth levels
// deep, each level with its own boundary, with text in the innermost
// part: the attack of issue 14 (8,000 levels make 565 KB), for the tests
// and benchmarks of every package that reads MIME.
func Nested(depth int, text string) []byte {
	var b bytes.Buffer
	b.WriteString("From: x@attacker.test\r\nTo: app@localhost\r\nSubject: nested\r\n")
	for i := 0; i < depth; i++ {
		n := strconv.Itoa(i)
		b.WriteString("Content-Type: multipart/mixed; boundary=\"b" + n + "\"\r\n\r\n--b" + n + "\r\n")
	}
	b.WriteString("Content-Type: text/plain\r\n\r\n" + text + "\r\n")
	for i := depth - 1; i >= 0; i-- {
		b.WriteString("--b" + strconv.Itoa(i) + "--\r\n")
	}
	return b.Bytes()
}
