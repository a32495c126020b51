"""Shared pieces of bench/compare: ports, process trees, memory and CPU
sampling, the counting sink (Postfix's smtp-sink) and mailbox counters.
The systems under test live in mailgate_sys.py, postfix_sys.py and
maddy_sys.py, one class per system."""

import os
import pty
import re
import shutil
import socket
import subprocess
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=30.0, proc=None):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("process exited with %s before listening on %d" % (proc.returncode, port))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on 127.0.0.1:%d after %.0fs" % (port, timeout))


def read_pid(path, timeout=10.0):
    """The pid a daemon writes once it runs (it may listen before that)."""
    end = time.time() + timeout
    while True:
        try:
            with open(path) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            if time.time() > end:
                raise
            time.sleep(0.05)


def run(cmd, **kw):
    """Runs a set-up command; its output goes into the error when it fails."""
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s%s" % (" ".join(cmd), r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    return r.stdout


def children_of(roots):
    """All processes under the root pids (Postfix's and Dovecot's workers)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], list(roots)
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def pss_kb(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/smaps_rollup" % p) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # utime + stime + cutime + cstime: workers that exited during
            # the run are counted in their parent's cutime once reaped.
            total += sum(int(x) for x in fields[11:15])
        except (OSError, ValueError, IndexError):
            pass
    return total


class PeakPSS:
    """Samples the PSS of every process under the roots in a thread; peak in KB."""

    def __init__(self, roots, interval=0.2):
        self.roots, self.interval, self.peak = roots, interval, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, pss_kb(children_of(self.roots)))
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


class SmtpSink:
    """Postfix's smtp-sink (SMTP, or LMTP with lmtp=True) with its running
    counter: no figure rests on a sink we wrote. smtp-sink buffers its
    counter unless stdout is a terminal, so it gets a pty, read in a thread
    that stamps the time each count was seen."""

    MESG = re.compile(rb"mesg=(\d+)")

    def __init__(self, tmp, lmtp=False, dump=None):
        self.port, self.dump = free_port(), dump
        self.count, self.last_ns, self.base = 0, 0, 0
        self._cv = threading.Condition()
        master, slave = pty.openpty()
        args = ["smtp-sink", "-c", "-u", "nobody", "-m", "2048"] + (["-L"] if lmtp else [])
        if dump:  # every message to a file (smoke: the DKIM signatures are checked)
            os.makedirs(dump)
            os.chmod(dump, 0o777)
            args += ["-d", os.path.join(dump, "%H%M%S.")]
        self.proc = subprocess.Popen(args + ["127.0.0.1:%d" % self.port, "1024"], stdout=slave,
                                     stderr=open(os.path.join(tmp, "smtp-sink-%d.err" % self.port), "w"))
        os.close(slave)
        self._fd = master
        threading.Thread(target=self._read, daemon=True).start()
        wait_port(self.port, proc=self.proc)

    def _read(self):
        while True:
            try:
                b = os.read(self._fd, 65536)
            except OSError:
                return
            if not b:
                return
            counts = self.MESG.findall(b)
            if counts:
                with self._cv:
                    self.count, self.last_ns = int(counts[-1]), time.time_ns()
                    self._cv.notify_all()

    def reset(self):
        """Counts from here on (smtp-sink's counter only grows)."""
        with self._cv:
            self.base = self.count

    def wait_count(self, n, timeout):
        """(messages since reset, wall time in ns when the last was counted)."""
        end = time.time() + timeout
        with self._cv:
            while self.count - self.base < n and time.time() < end:
                self._cv.wait(min(1.0, max(0.01, end - time.time())))
            return self.count - self.base, self.last_ns

    def take_dumped(self):
        """The messages dumped since the last call (their files are removed)."""
        out = []
        for name in os.listdir(self.dump):
            path = os.path.join(self.dump, name)
            with open(path, "rb") as f:
                out.append(f.read())
            os.remove(path)
        return out

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        os.close(self._fd)


class DirCounter:
    """Counts message files under directories (Maildir new/ and cur/, maddy's
    blob store) by polling every 50 ms; the end-to-end time is the poll that
    first saw them all, so it is late by up to 50 ms."""

    def __init__(self, dirs):
        self.dirs = dirs
        self.base = self._count()

    def _count(self):
        n = 0
        for d in self.dirs:
            try:
                with os.scandir(d) as it:
                    n += sum(1 for e in it if not e.name.startswith("."))
            except OSError:
                pass
        return n

    def wait_count(self, n, timeout):
        end = time.time() + timeout
        got, seen_ns = 0, 0
        while True:
            c = self._count() - self.base
            if c > got:
                got, seen_ns = c, time.time_ns()
            if got >= n or time.time() > end:
                return got, seen_ns
            time.sleep(0.05)


def make_keys(tmp):
    """The certificate every system serves (ECDSA P-256, what certbot issues
    by default) and one DKIM key pair per type, shared by all systems."""
    d = os.path.join(tmp, "keys")
    os.makedirs(d)
    k = {"cert": os.path.join(d, "cert.pem"), "key": os.path.join(d, "key.pem"),
         "ed25519": os.path.join(d, "dkim-ed25519.pem"), "rsa2048": os.path.join(d, "dkim-rsa2048.pem")}
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-days", "2",
         "-keyout", k["key"], "-out", k["cert"]])
    run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", k["ed25519"]])
    run(["openssl", "genpkey", "-algorithm", "rsa", "-pkeyopt", "rsa_keygen_bits:2048", "-out", k["rsa2048"]])
    for f in k.values():
        os.chmod(f, 0o644)
    return k


def stop_proc(proc, timeout=20):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def remove(path):
    shutil.rmtree(path, ignore_errors=True)
