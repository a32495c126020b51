"""ARC with dkimpy, the independent implementation mailgate's tests check against.

Usage:
  python3 dkimpy_arc.py verify TXT < message      prints "pass", "fail" or "none"
  python3 dkimpy_arc.py sign KEYFILE SRVID < message   prints the message with a new ARC set
TXT is the key record, served for every name asked (the tests use one key).
"""
import sys

import dkim


def main():
    msg = sys.stdin.buffer.read()
    if sys.argv[1] == "verify":
        record = sys.argv[2].encode()
        cv, _, reason = dkim.arc_verify(msg, dnsfunc=lambda name, timeout=5: record)
        print(cv.decode(), file=sys.stdout)
        print(reason, file=sys.stderr)
        return
    key = open(sys.argv[2], "rb").read()
    headers = dkim.arc_sign(msg, b"arc", b"first.example", key, sys.argv[3].encode(),
                            include_headers=[b"from", b"to", b"subject", b"date"])
    sys.stdout.buffer.write(b"".join(headers) + msg)


main()
