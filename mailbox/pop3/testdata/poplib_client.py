"""Drive mailgate's POP3 server with Python's poplib, as a script would.

usage: poplib_client.py ssl|stls HOST PORT CAFILE USER PASSWORD
Prints one JSON object: what the server answered.
"""
import json
import poplib
import ssl
import sys

mode, host, port, cafile, user, password = sys.argv[1:]
ctx = ssl.create_default_context(cafile=cafile)
if mode == "ssl":
    p = poplib.POP3_SSL(host, int(port), context=ctx, timeout=20)
else:
    p = poplib.POP3(host, int(port), timeout=20)
    p.stls(context=ctx)
out = {"capa": sorted(p.capa().keys())}
p.user(user)
p.pass_(password)
out["stat"] = list(p.stat())
out["uidl"] = [x.decode() for x in p.uidl()[1]]
out["retr"] = [l.decode() for l in p.retr(1)[1]]
out["top"] = [l.decode() for l in p.top(1, 0)[1]]
out["dele"] = p.dele(1).decode()
out["quit"] = p.quit().decode()
print(json.dumps(out))
