"""Verify every DKIM signature of the message on stdin with dkimpy.

Usage: python3 dkimpy_verify.py DNS_HOST:PORT < message
Keys are looked up on the given DNS server only (a loopback test server),
never the machine's resolver. Prints one line per signature: "INDEX pass"
or "INDEX fail".
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
d = dkim.DKIM(msg)
n = sum(1 for k, _ in d.headers if k.lower() == b"dkim-signature")
for i in range(n):
    try:
        ok = d.verify(idx=i, dnsfunc=txt)
    except dkim.DKIMException:
        ok = False
    print(i, "pass" if ok else "fail")
