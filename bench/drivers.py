"""The two load drivers of bench/compare, with one result shape: the
project's load tool (`mailgate-bench send`, which also speaks STARTTLS,
implicit TLS and AUTH PLAIN) and Postfix's smtp-source, so that no ratio
of the plain cells rests only on a tool we wrote."""

import json
import subprocess
import time

SIZES = {"4KB": 4096, "100KB": 102400}


def tool_send(tool, port, size, n, conc, rcpt, sender, reuse=False, tls="none", user=None, pwfile=None):
    """tool is the argv prefix of the load tools: [mailgate-bench] or [mailgate, bench]."""
    cmd = tool + ["send", "-json", "-addr", "127.0.0.1:%d" % port, "-n", str(n), "-size", size,
                  "-c", str(conc), "-to", rcpt, "-from", sender, "-timeout", "10m", "-tls", tls]
    if reuse:
        cmd.append("-reuse")
    if user:
        cmd += ["-user", user, "-password-file", pwfile]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if not r.stdout:
        return {"sent": 0, "failed": n, "errors": {"tool": r.stderr.strip()[-300:]}, "start_ns": time.time_ns(),
                "accept": None, "p50": None, "p99": None}
    res = json.loads(r.stdout)
    return {"sent": res["sent"], "failed": res["failed"], "errors": res["errors"], "start_ns": res["start_ns"],
            "accept": res["per_second"], "p50": res["latency_ms"]["p50"], "p99": res["latency_ms"]["p99"]}


def source_send(port, size, n, conc, rcpt, sender, reuse=False):
    """smtp-source: -s sessions in parallel, one message per connection
    unless reuse (-d). It reports no latencies; the rate is messages over
    the wall time of the whole run. It stops at the first error reply."""
    cmd = ["smtp-source", "-s", str(conc), "-m", str(n), "-l", str(SIZES[size]), "-f", sender, "-t", rcpt,
           "-M", "smtp-source.localhost"]
    if reuse:
        cmd.append("-d")
    start = time.time_ns()
    r = subprocess.run(cmd + ["127.0.0.1:%d" % port], capture_output=True, text=True)
    secs = (time.time_ns() - start) / 1e9
    bad = [line for line in r.stderr.splitlines() if line.strip()]
    if r.returncode != 0 or bad:
        return {"sent": 0, "failed": n, "errors": {"smtp-source": (bad[-1] if bad else "exit %d" % r.returncode)[-300:]},
                "start_ns": start, "accept": None, "p50": None, "p99": None}
    return {"sent": n, "failed": 0, "errors": {}, "start_ns": start, "accept": n / secs, "p50": None, "p99": None}
