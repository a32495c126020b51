// Command mailgate-bench holds the load tools used to measure mailgate on
// loopback (BENCHMARKS.md, bench/compare): an SMTP sender, a counting SMTP
// sink and an IMAP client swarm, all built on the loadgen package. It is a
// separate binary so that the production binary carries no load generator.
package main

import "os"

func main() {
	os.Exit(benchCommand(os.Args[1:], os.Stdout, os.Stderr))
}
