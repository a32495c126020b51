"""Check the ARC chain of the message on stdin with dkimpy's arc_verify.

Usage: /usr/bin/python3 arc_verify.py DNS_HOST:PORT < message
Keys are looked up on the given DNS server only (the test's loopback
server). Prints the chain result: pass, fail or none.
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


cv, _, reason = dkim.arc_verify(sys.stdin.buffer.read(), dnsfunc=txt)
print(cv.decode())
print(reason, file=sys.stderr)
