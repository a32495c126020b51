package e2e

import (
	"strings"
	"testing"

	"mailgate/internal/mgtest"
)

// filterBlocksConfig has one mistake in the block of every filter; each
// block is decoded and checked by its filter's registry row.
const filterBlocksConfig = `hostname: mail.example.com
data_dir: DIR
listeners:
  - name: mx
    protocol: smtp
    address: 127.0.0.1:2525
    filters: [dnsbl, ratelimit, spf, dkim_verify, arc_verify, dmarc, milter, dkim_sign]
  - name: submission
    protocol: submission
    address: 127.0.0.1:2587
    filters: [sender_policy, dkim_sign]
filters:
  spf:
    timeout: 0s
  dkim_verify:
    max_signatures: 99
  arc_verify:
    actions: {forged: reject}
  dmarc:
    trusted_arc_sealers: ["lists example"]
  ratelimit:
    per_ip: {messages: -5}
  sender_policy:
    fixup: true
  milter:
    address: nowhere
  dkim_sign:
    keys:
      - {domain: example.com, selector: s1, file: /nonexistent/dkim.pem}
  dnsbl:
    lists: [{zone: zen.spamhaus.org, type: rhsbl}]
`

// TestCheckConfigFilterBlocks: check-config names the file and line of a
// mistake in each filter's block, every one in one run.
func TestCheckConfigFilterBlocks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := writeFile(t, dir, "filters.yaml", strings.ReplaceAll(filterBlocksConfig, "DIR", dir))
	want := strings.Join([]string{
		path + `:14: filters.spf.timeout: must be more than 0; write a duration such as 20s`,
		path + `:16: filters.dkim_verify.max_signatures: 99 is out of range; write a number from 1 to 50, such as 5`,
		path + `:18: filters.arc_verify.actions.forged: "forged" is not a result of the arc_verify filter; write one of fail, none, pass`,
		path + `:20: filters.dmarc.trusted_arc_sealers[0]: "lists example" is not a domain; write the d= domain of a forwarder's ARC-Seal, such as lists.example.org`,
		path + `:22: filters.ratelimit.per_ip.messages: -5 is negative; write 0 for no limit or a number such as 1000`,
		path + `:24: filters.sender_policy.fixup: unknown key; valid keys here are: actions, fixups`,
		path + `:26: filters.milter.address: "nowhere" is not host:port; write an address such as 127.0.0.1:11332, or unix:/path/to/socket`,
		path + `:29: filters.dkim_sign.keys[0].file: cannot read key file "/nonexistent/dkim.pem" (no such file); write the path of a readable PEM private key`,
		path + `:31: filters.dnsbl.lists[0].type: "rhsbl" is not a list type; write ip (the client's address) or domain (its HELO name and MAIL FROM domain)`,
	}, "\n") + "\n"
	out, code := mgtest.Run(t, dir, "", "check-config", path)
	if code != 1 || out != want {
		t.Errorf("check-config: exit %d, output:\n%s\nwant exit 1, output:\n%s", code, out, want)
	}
}
