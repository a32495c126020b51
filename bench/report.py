"""Tables of bench/compare: medians with min-max over the runs, ratios,
each figure as a fraction of the protocol ceiling, and the targets of
issue 16 item 2 marked met or missed from the medians."""

import json
import os
import statistics

SYSTEMS = ("mailgate", "baseline", "postfix", "maddy")


def fmt(x, spec="%.0f"):
    return "—" if x is None else spec % x


def ratio(a, b):
    return None if not a or not b else a / b


def med(rows, field):
    xs = [r[field] for r in rows if r.get(field) is not None]
    return statistics.median(xs) if xs else None


def spread(rows, field, spec="%.0f"):
    """median (min–max), or the one figure of a single run."""
    xs = [r[field] for r in rows if r.get(field) is not None]
    if not xs:
        return "—"
    if len(xs) == 1:
        return spec % xs[0]
    return "%s (%s–%s)" % (spec % statistics.median(xs), spec % min(xs), spec % max(xs))


def imap_row(stdout, pss_kb):
    if not stdout:
        return None
    res = json.loads(stdout)
    lat = res.get("ops") or {}
    allp = [v["p99"] for v in lat.values()]
    return {"ops": res["per_second"], "failed": res["failed"], "errors": res.get("errors"), "pss_mb": pss_kb / 1024.0,
            "p50": statistics.median([v["p50"] for v in lat.values()]) if lat else None,
            "p99": max(allp) if allp else None}


def machine():
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return "%d cores (%s), %d MB RAM" % (os.cpu_count(), cpu, mem)


def ceiling_table(R):
    lines = ["| size | conc | smtp-source -> smtp-sink (protocol ceiling) | load tool -> smtp-sink |", "|---|---|---|---|"]
    for k in sorted((k for k in R if k[0] == "ceiling" and k[4] == "source"), key=lambda k: (k[1] != "4KB", k[1], k[2])):
        tool = R.get(k[:4] + ("tool",), [])
        lines.append("| %s | %d | %s | %s |" % (k[1], k[2], spread(R[k], "accept"), spread(tool, "accept")))
    return lines


def plain_table(R, cell):
    """Relay or local cell: every system by both drivers, with the fraction
    of what the same driver reaches straight into smtp-sink."""
    lines = ["| size | conc | system | driver | accepted/s | end-to-end/s | p50 ms | p99 ms | peak PSS MB | CPU ms/msg | accept / ceiling |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({k[1:3] for k in R if k[0] == cell}, key=lambda sc: (sc[0] != "4KB", sc[1]))
    if not keys:
        return []
    for size, conc in keys:
        for name in SYSTEMS:
            for drv in ("source", "tool"):
                rows = R.get((cell, size, conc, name, drv))
                if not rows:
                    continue
                ceil = med(R.get(("ceiling", size, conc, "smtp-sink", drv), []), "accept")
                lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    size, conc, name, "smtp-source" if drv == "source" else "load tool", spread(rows, "accept"),
                    spread(rows, "e2e"), fmt(med(rows, "p50"), "%.1f"), fmt(med(rows, "p99"), "%.1f"),
                    spread(rows, "pss_mb", "%.1f"), fmt(med(rows, "cpu_ms"), "%.2f"), fmt(ratio(med(rows, "accept"), ceil), "%.2f")))
    return lines + [""] + ratio_table(R, cell, keys)


def ratio_table(R, cell, keys):
    lines = ["| size | conc | driver | accept mg/pf | accept mg/maddy | e2e mg/pf | e2e mg/maddy | PSS mg/pf | PSS mg/maddy |",
             "|---|---|---|---|---|---|---|---|---|"]
    for size, conc in keys:
        for drv in ("source", "tool"):
            g, p, m = ({f: med(R.get((cell, size, conc, s, drv), []), f) for f in ("accept", "e2e", "pss_mb")}
                       for s in ("mailgate", "postfix", "maddy"))
            lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
                size, conc, "smtp-source" if drv == "source" else "load tool",
                *(fmt(ratio(g[f], o[f]), "%.2f") for f in ("accept", "e2e", "pss_mb") for o in (p, m))))
    return lines


def submission_table(R):
    lines = ["| variant (TLS/connection/DKIM key) | conc | system | accepted/s | end-to-end/s | p50 ms | p99 ms | peak PSS MB | CPU ms/msg | mg/this | mailgate: of its plain figure |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    variants = sorted({k[1:3] for k in R if k[0] == "submission"}, key=lambda v: (v[0].split("/")[1], v[0]))
    for variant, conc in variants:
        mg = med(R.get(("submission", variant, conc, "mailgate", "tool"), []), "accept")
        plain = med(R.get(("relay", "4KB", conc, "mailgate", "tool"), []), "accept")
        for name in SYSTEMS:
            rows = R.get(("submission", variant, conc, name, "tool"))
            if not rows:
                continue
            own = fmt(ratio(mg, plain), "%.2f") if name == "mailgate" else ""
            lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                variant, conc, name, spread(rows, "accept"), spread(rows, "e2e"), fmt(med(rows, "p50"), "%.1f"),
                fmt(med(rows, "p99"), "%.1f"), spread(rows, "pss_mb", "%.1f"), fmt(med(rows, "cpu_ms"), "%.2f"),
                "" if name == "mailgate" else fmt(ratio(mg, med(rows, "accept")), "%.2f"), own))
    return lines


def baseline_table(R):
    """This tree against --baseline's build, cell by cell (issue 23: the
    structural step must lose nothing on the plain relay and gain on TLS
    submission)."""
    lines = ["| cell | size or variant | conc | driver | accepted/s this tree | accepted/s baseline | this/baseline | run by run: median (min–max) | CPU ms/msg this | CPU ms/msg baseline |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({k[:3] + (k[4],) for k in R if k[0] in ("relay", "local", "submission") and k[3] == "baseline"},
                  key=lambda k: (("relay", "local", "submission").index(k[0]), k[1], k[2], k[3]))
    for cell, sv, conc, drv in keys:
        g, b = R.get((cell, sv, conc, "mailgate", drv), []), R.get((cell, sv, conc, "baseline", drv), [])
        lines.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            cell, sv, conc, "smtp-source" if drv == "source" else "load tool", spread(g, "accept"), spread(b, "accept"),
            fmt(ratio(med(g, "accept"), med(b, "accept")), "%.2f"), paired(g, b),
            fmt(med(g, "cpu_ms"), "%.2f"), fmt(med(b, "cpu_ms"), "%.2f")))
    return lines


def paired(g, b):
    """The ratio of the two systems' runs of the same round (they run back
    to back, the order alternating), as median (min–max): a slow spell of
    the machine moves both runs of a round, so this is steadier than the
    ratio of the two medians."""
    rs = [x["accept"] / y["accept"] for x, y in zip(g, b) if x.get("accept") and y.get("accept")]
    if not rs:
        return "—"
    return "%.2f (%.2f–%.2f)" % (statistics.median(rs), min(rs), max(rs))


def imap_table(R):
    lines = ["| clients | system | ops/s | op p50 ms | worst op p99 ms | peak PSS MB | mailgate/dovecot |", "|---|---|---|---|---|---|---|"]
    for clients in sorted({k[1] for k in R if k[0] == "imap"}):
        g = med(R.get(("imap", clients, "mailgate"), []), "ops")
        for name in ("mailgate", "dovecot"):
            rows = R.get(("imap", clients, name))
            if rows:
                lines.append("| %d | %s | %s | %s | %s | %s | %s |" % (
                    clients, name, spread(rows, "ops"), fmt(med(rows, "p50"), "%.2f"), fmt(med(rows, "p99"), "%.1f"),
                    spread(rows, "pss_mb", "%.1f"), fmt(ratio(g, med(rows, "ops")), "%.2f") if name == "dovecot" else ""))
    return lines


def render(a, R, when, vers):
    out = ["", "## %s%s" % (when, " (smoke)" if a.smoke else ""), ""]
    if a.note:
        out += [a.note, ""]
    out += ["Machine: %s. %s. Median (min–max) of %d run(s), systems alternating; %d messages per 4KB run, "
            "%d per 100KB run. Sinks: Postfix's smtp-sink (SMTP for the smarthost, LMTP for the relay's next hop)." % (
                machine(), vers, a.runs, a.n_small, a.n_large), ""]
    for title, table in (("Protocol ceiling", ceiling_table(R)), ("Relay: port 25 -> spool -> next hop (LMTP sink)", plain_table(R, "relay")),
                         ("Local delivery: port 25 -> mailbox", plain_table(R, "local")),
                         ("Submission: TLS, AUTH PLAIN, filters, DKIM -> smarthost (SMTP sink), load tool", submission_table(R)),
                         ("IMAP (%.0fs per run)" % a.imap_seconds, imap_table(R)),
                         ("This tree against the baseline build (issue 23)", baseline_table(R))):
        if len(table) > 2:
            out += ["### " + title, ""] + table + [""]
    out += ["### Targets of issue 16 (medians of this run, 4 KB c=20 unless said)", ""] + targets_table(R)
    return "\n".join(out) + "\n"


def _get(R, key, field="accept"):
    return med(R.get(key, []), field)


def targets_table(R):
    """Each target from the medians: met, missed, or not measured."""
    rows = ["| target | figures | met? |", "|---|---|---|"]

    def check(name, pairs):
        """pairs: (label, value, bound, at_least). A target with some
        figures missing is met only where measured, and says so."""
        figs, failed, missing = [], False, 0
        for label, v, bound, at_least in pairs:
            if v is None:
                figs.append("%s —" % label)
                missing += 1
                continue
            figs.append("%s %.0f" % (label, v) if label.endswith("/s") else "%s %.2f" % (label, v))
            failed = failed or ((v < bound) if at_least else (v > bound))
        if failed:
            verdict = "**missed**"
        elif missing == len(pairs):
            verdict = "not measured"
        else:
            verdict = "met where measured" if missing else "met"
        rows.append("| %s | %s | %s |" % (name, ", ".join(figs), verdict))

    def r(cell, size, conc, drv, field, other):
        return ratio(_get(R, (cell, size, conc, "mailgate", drv), field), _get(R, (cell, size, conc, other, drv), field))

    check("relay acceptance by smtp-source >= 4x Postfix, >= 6x maddy",
          [("mg/pf", r("relay", "4KB", 20, "source", "accept", "postfix"), 4, True),
           ("mg/maddy", r("relay", "4KB", 20, "source", "accept", "maddy"), 6, True)])
    check("relay end-to-end by smtp-source >= 4x both",
          [("mg/pf", r("relay", "4KB", 20, "source", "e2e", "postfix"), 4, True),
           ("mg/maddy", r("relay", "4KB", 20, "source", "e2e", "maddy"), 4, True)])
    plain = _get(R, ("relay", "4KB", 20, "mailgate", "tool"))
    for key in ("ed25519", "rsa2048"):
        v = "starttls/new/" + key
        mg = _get(R, ("submission", v, 20, "mailgate", "tool"))
        check("TLS submission, new connection per message, %s: >= 4x Postfix, >= 6x maddy, >= 0.7 of mailgate's plain relay (load tool)" % key,
              [("mg/pf", ratio(mg, _get(R, ("submission", v, 20, "postfix", "tool"))), 4, True),
               ("mg/maddy", ratio(mg, _get(R, ("submission", v, 20, "maddy", "tool"))), 6, True),
               ("of plain", ratio(mg, plain), 0.7, True)])
    check("100 KB relay acceptance by smtp-source >= 3x Postfix",
          [("mg/pf", r("relay", "100KB", 20, "source", "accept", "postfix"), 3, True)])
    check("local delivery end-to-end (smtp-source) >= 2,000/s and >= 3x Postfix -> Dovecot LMTP",
          [("mg/s", _get(R, ("local", "4KB", 20, "mailgate", "source"), "e2e"), 2000, True),
           ("mg/pf", r("local", "4KB", 20, "source", "e2e", "postfix"), 3, True)])
    for conc in (20, 100):
        check("peak PSS, relay by smtp-source, c=%d: <= 0.5x Postfix, <= maddy" % conc,
              [("mg/pf", r("relay", "4KB", conc, "source", "pss_mb", "postfix"), 0.5, False),
               ("mg/maddy", r("relay", "4KB", conc, "source", "pss_mb", "maddy"), 1.0, False)])
    for clients in (10, 50):
        check("IMAP ops/s >= 2x Dovecot, %d clients" % clients,
              [("mg/dc", ratio(_get(R, ("imap", clients, "mailgate"), "ops"), _get(R, ("imap", clients, "dovecot"), "ops")), 2, True)])
    return rows
