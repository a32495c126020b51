"""Verify every DKIM signature of the message on stdin with dkimpy.

Usage: python3 dkimpy_verify.py DNS_HOST:PORT [arc] < message
Keys are looked up on the given DNS server only (a loopback test server),
never the machine's resolver. Prints one line per signature: "INDEX pass"
or "INDEX fail". With "arc" it checks the ARC chain instead (arc_verify)
and prints pass, fail or none, with dkimpy's reason on stderr.
"""
import sys

import dkim
import dns.resolver

host, port = sys.argv[1].rsplit(":", 1)
res = dns.resolver.Resolver(configure=False)
res.nameservers = [host]
res.port = int(port)


def txt(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    try:
        answer = res.resolve(name, "TXT", lifetime=timeout)
    except Exception:
        return None
    for rdata in answer:
        return b"".join(rdata.strings)
    return None


msg = sys.stdin.buffer.read()
if sys.argv[2:] == ["arc"]:
    cv, _, reason = dkim.arc_verify(msg, dnsfunc=txt)
    print(cv.decode())
    print(reason, file=sys.stderr)
    sys.exit(0)
d = dkim.DKIM(msg)
n = sum(1 for k, _ in d.headers if k.lower() == b"dkim-signature")
for i in range(n):
    try:
        ok = d.verify(idx=i, dnsfunc=txt)
    except dkim.DKIMException:
        ok = False
    print(i, "pass" if ok else "fail")
