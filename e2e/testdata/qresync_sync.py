"""The phone-and-laptop pair of e2e/qresync_test.go, as Python's imaplib
speaks it: the laptop over STARTTLS (port 143), the phone over implicit
TLS (port 993), one account. imaplib has no QRESYNC of its own, so the
QRESYNC commands go through its generic command path and the untagged
responses are read from what imaplib collected. Each step prints one JSON
object for the Go test to check.

argv: step host port143 port993 cafile user password [json]
steps:
  seed     the phone appends six messages
  remember the laptop enables QRESYNC, selects INBOX and prints what it
           keeps: UIDVALIDITY, HIGHESTMODSEQ, UIDs; then logs out
  phone    the phone flags UID 1 \\Seen and UID 2 \\Flagged, expunges
           UIDs 3 and 4, appends one message; prints the MODSEQs it saw
  resync   the laptop comes back: SELECT INBOX (QRESYNC (...)) and
           UID FETCH 1:* (FLAGS) (CHANGEDSINCE n VANISHED); json is what
           "remember" printed
  live     both selected at once: the laptop in IDLE sees the phone's
           expunge and flag change, then NOOP sees the next ones
"""
import imaplib
import json
import re
import socket
import ssl
import sys

step, host, port143, port993, cafile, user, password = sys.argv[1:8]
ctx = ssl.create_default_context(cafile=cafile)
ctx.check_hostname = False  # the certificate names the server's hostname, we dial 127.0.0.1


def laptop():
    m = imaplib.IMAP4(host, int(port143), timeout=30)
    m.starttls(ssl_context=ctx)
    m.login(user, password)
    m._get_capabilities()  # the list after login names ENABLE, CONDSTORE, QRESYNC
    return m


def phone():
    m = imaplib.IMAP4_SSL(host, int(port993), ssl_context=ctx, timeout=30)
    m.login(user, password)
    m._get_capabilities()  # the list after login names ENABLE, CONDSTORE, QRESYNC
    return m


def ok(res):
    typ, data = res
    if typ != "OK":
        raise SystemExit("command failed: %s %r" % (typ, data))
    return data


def run(m, name, *args):
    """Runs a command imaplib does not know the QRESYNC form of and
    returns the untagged responses it brought, by type."""
    m.untagged_responses.clear()
    ok(m._simple_command(name, *args))
    got = {k: list(v) for k, v in m.untagged_responses.items()}
    m.untagged_responses.clear()
    return got


def text(b):
    return b.decode() if isinstance(b, bytes) else b


FETCH = re.compile(r"^(\d+) \((.*)\)$")


def fetches(items):
    """Parses FETCH data ("3 (UID 7 FLAGS (\\Seen) MODSEQ (12))")."""
    out = []
    for it in items:
        if isinstance(it, tuple):
            it = it[0]
        mt = FETCH.match(text(it))
        if not mt:
            continue
        body = mt.group(2)
        uid = re.search(r"UID (\d+)", body)
        flags = re.search(r"FLAGS \(([^)]*)\)", body)
        modseq = re.search(r"MODSEQ \((\d+)\)", body)
        out.append({"seq": int(mt.group(1)), "uid": int(uid.group(1)) if uid else 0,
                    "flags": flags.group(1).split() if flags else None,
                    "modseq": int(modseq.group(1)) if modseq else 0})
    return sorted(out, key=lambda f: f["uid"])


def message(n):
    return ("From: phone@localhost\r\nTo: %s\r\nSubject: message %d\r\n\r\nbody %d\r\n" % (user, n, n)).encode()


def seed():
    m = phone()
    for n in range(1, 7):
        ok(m.append("INBOX", None, None, message(n)))
    m.logout()
    print(json.dumps({"seeded": 6}))


def remember():
    m = laptop()
    ok(m.enable("QRESYNC"))
    got = run(m, "SELECT", "INBOX")
    m.state = "SELECTED"
    uids = ok(m.uid("SEARCH", "ALL"))[0].split()
    print(json.dumps({"uidvalidity": int(got["UIDVALIDITY"][0]), "highestmodseq": int(got["HIGHESTMODSEQ"][0]),
                      "uids": [int(u) for u in uids]}))
    m.logout()


def phone_changes():
    m = phone()
    ok(m.enable("CONDSTORE"))
    ok(m.select("INBOX"))
    seen = fetches(ok(m.uid("STORE", "1", "+FLAGS", "(\\Seen)")))
    flagged = fetches(ok(m.uid("STORE", "2", "+FLAGS", "(\\Flagged)")))
    ok(m.uid("STORE", "3:4", "+FLAGS.SILENT", "(\\Deleted)"))
    ok(m.expunge())
    ok(m.append("INBOX", None, None, message(7)))
    m.noop()
    new = fetches(ok(m.uid("FETCH", "7", "(FLAGS MODSEQ)")))
    m.logout()
    print(json.dumps({"changed": seen + flagged, "new": new}))


def resync(state):
    m = laptop()
    ok(m.enable("QRESYNC"))
    known = ",".join(str(u) for u in state["uids"])
    got = run(m, "SELECT", "INBOX", "(QRESYNC (%d %d %s))" % (state["uidvalidity"], state["highestmodseq"], known))
    m.state = "SELECTED"
    m.untagged_responses.clear()
    data = ok(m.uid("FETCH", "1:*", "(FLAGS)", "(CHANGEDSINCE %d VANISHED)" % state["highestmodseq"]))
    vanished2 = [text(v) for v in m.untagged_responses.pop("VANISHED", [])]
    m.logout()
    print(json.dumps({"vanished": [text(v) for v in got.get("VANISHED", [])],
                      "fetch": fetches(got.get("FETCH", [])),
                      "highestmodseq": int(got["HIGHESTMODSEQ"][0]),
                      "changedsince_vanished": vanished2,
                      "changedsince": fetches(data)}))


def idle_start(m):
    """Sends IDLE (imaplib 3.11 has no idle()) and waits for "+"."""
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    if not m.readline().startswith(b"+"):
        raise SystemExit("IDLE refused")
    return tag


def idle_wait(m, tag, want, seconds=30):
    """Reads what IDLE pushes until every prefix in want was seen, then
    sends DONE. Returns the untagged lines."""
    m.sock.settimeout(seconds)
    lines = []
    try:
        while not all(any(l.startswith(w) for l in lines) for w in want):
            lines.append(text(m.readline()).rstrip("\r\n"))
    except socket.timeout:
        raise SystemExit("IDLE: no %r within %ds; got %r" % (want, seconds, lines))
    m.send(b"DONE\r\n")
    while True:
        l = text(m.readline())
        if l.startswith(text(tag)):
            break
        lines.append(l.rstrip("\r\n"))
    return lines


def live():
    lap = laptop()
    ok(lap.enable("QRESYNC"))
    run(lap, "SELECT", "INBOX")
    lap.state = "SELECTED"
    ph = phone()
    ok(ph.enable("CONDSTORE"))
    ok(ph.select("INBOX"))
    uids = [int(u) for u in ok(ph.uid("SEARCH", "ALL"))[0].split()]
    first, second, third = uids[0], uids[1], uids[2]
    # While the laptop idles, the phone expunges one message and flags another.
    tag = idle_start(lap)
    ok(ph.uid("STORE", str(second), "+FLAGS.SILENT", "(\\Deleted)"))
    ok(ph.expunge())
    flagged = fetches(ok(ph.uid("STORE", str(first), "+FLAGS", "(\\Flagged)")))
    idle = idle_wait(lap, tag, ["* VANISHED", "* 1 FETCH"])
    # Then the next ones, seen by NOOP.
    answered = fetches(ok(ph.uid("STORE", str(third), "+FLAGS", "(\\Answered)")))
    ok(ph.uid("STORE", str(first), "+FLAGS.SILENT", "(\\Deleted)"))
    ok(ph.expunge())
    noop = run(lap, "NOOP")
    ph.logout()
    lap.logout()
    print(json.dumps({"uids": uids, "flagged": flagged, "answered": answered, "idle": idle,
                      "noop_vanished": [text(v) for v in noop.get("VANISHED", [])],
                      "noop_fetch": fetches(noop.get("FETCH", []))}))


if step == "seed":
    seed()
elif step == "remember":
    remember()
elif step == "phone":
    phone_changes()
elif step == "resync":
    resync(json.loads(sys.argv[8]))
elif step == "live":
    live()
else:
    raise SystemExit("unknown step " + step)
