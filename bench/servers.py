"""Servers under test for bench/compare: the sink, mailgate, Postfix and
Dovecot, each configured in a private temp directory on loopback ports."""

import json
import os
import pwd
import shutil
import socket
import subprocess
import threading
import time
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20.0, proc=None):
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


def children_of(pid):
    """All descendants of pid (Postfix's and Dovecot's workers)."""
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
    out, todo = [], [pid]
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
    """Samples the PSS of a server's processes in a thread; peak in KB."""

    def __init__(self, root_pid, interval=0.2):
        self.root, self.interval, self.peak = root_pid, interval, 0
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, pss_kb(children_of(self.root)))
            self._stop.wait(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()


class Sink:
    """`mailgate-bench sink` with a status port, up for the whole run."""

    def __init__(self, bench_tool, tmp):
        self.port, self.status = free_port(), free_port()
        self.proc = subprocess.Popen(
            [bench_tool, "sink", "-addr", "127.0.0.1:%d" % self.port,
             "-status", "127.0.0.1:%d" % self.status, "-timeout", "4h"],
            stdout=open(os.path.join(tmp, "sink.out"), "w"), stderr=subprocess.STDOUT)
        wait_port(self.port, proc=self.proc)
        wait_port(self.status, proc=self.proc)

    def _url(self, path):
        return "http://127.0.0.1:%d%s" % (self.status, path)

    def reset(self):
        urllib.request.urlopen(urllib.request.Request(self._url("/reset"), method="POST"), timeout=10).read()

    def stats(self):
        return json.load(urllib.request.urlopen(self._url("/stats"), timeout=10))

    def wait_count(self, n, timeout):
        end = time.time() + timeout
        while time.time() < end:
            st = self.stats()
            if st["messages"] >= n:
                return st
            time.sleep(0.02)
        return self.stats()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


MAILGATE_YAML = """\
hostname: mailgate-bench.localhost
data_dir: {dir}/data
local_domains: [bench.localhost]
log:
  level: warn
listeners:
  - name: submission
    protocol: submission
    address: 127.0.0.1:{smtp}
    allow_insecure_auth: true
    filters: []
  - name: imap
    protocol: imap
    address: 127.0.0.1:{imap}
  - name: http
    protocol: http
    address: 127.0.0.1:{http}
limits:
  max_connections: 2000
  max_connections_per_ip: 1000
delivery:
  smarthost:
    host: 127.0.0.1
    port: {sink}
    tls: none
"""


class Mailgate:
    name = "mailgate"

    def __init__(self, binary, tmp, sink_port, users, password):
        self.dir = os.path.join(tmp, "mailgate")
        os.makedirs(self.dir)
        self.smtp, self.imap, self.http = free_port(), free_port(), free_port()
        self.conf = os.path.join(self.dir, "mailgate.yaml")
        with open(self.conf, "w") as f:
            f.write(MAILGATE_YAML.format(dir=self.dir, smtp=self.smtp, imap=self.imap, http=self.http, sink=sink_port))
        for u in users:
            subprocess.run([binary, "user", "add", u, "--password-stdin", "-config", self.conf],
                           input=password + "\n", text=True, check=True, capture_output=True)
        self.proc = subprocess.Popen([binary, "serve", "-config", self.conf],
                                     stdout=open(os.path.join(self.dir, "serve.log"), "w"), stderr=subprocess.STDOUT)
        wait_port(self.smtp, proc=self.proc)
        self.pid = self.proc.pid

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


POSTFIX_MAIN = """\
compatibility_level = 3.6
queue_directory = {dir}/spool
data_directory = {dir}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix-bench.localhost
mydomain = localhost
mydestination =
local_recipient_maps =
local_transport = error:local delivery is off
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:{sink}
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtp_host_lookup = native
smtp_tls_security_level = none
smtpd_tls_security_level = none
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
default_process_limit = 200
message_size_limit = 52428800
biff = no
"""

POSTFIX_MASTER = """\
127.0.0.1:{smtp} inet n - n - - smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


class Postfix:
    """Debian's Postfix as a loopback relay to the sink; fsync defaults kept."""
    name = "postfix"

    def __init__(self, tmp, sink_port):
        self.dir = os.path.join(tmp, "pf")
        for d in ("conf", "spool", "data"):
            os.makedirs(os.path.join(self.dir, d))
        pw = pwd.getpwnam("postfix")
        os.chown(os.path.join(self.dir, "data"), pw.pw_uid, pw.pw_gid)
        self.smtp = free_port()
        conf = os.path.join(self.dir, "conf")
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write(POSTFIX_MAIN.format(dir=self.dir, sink=sink_port))
        with open(os.path.join(conf, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER.format(smtp=self.smtp))
        self.conf = conf
        with open(os.path.join(self.dir, "start.out"), "w") as out:
            rc = subprocess.run(["postfix", "-c", conf, "start"], stdout=out, stderr=subprocess.STDOUT).returncode
        if rc != 0:
            raise RuntimeError("postfix start failed:\n%s" % self.log())
        try:
            wait_port(self.smtp)
            self.pid = read_pid(os.path.join(self.dir, "spool", "pid", "master.pid"))
        except Exception:
            self.stop()
            raise

    def log(self):
        try:
            with open(os.path.join(self.dir, "maillog")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        subprocess.run(["postfix", "-c", self.conf, "stop"], capture_output=True)


DOVECOT_CONF = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{dir}/cert.pem
ssl_key = <{dir}/key.pem
disable_plaintext_auth = yes
auth_mechanisms = plain login
mail_location = maildir:{dir}/mail/%u
first_valid_uid = 1
default_login_user = dovenull
default_internal_user = dovecot
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/home/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


class Dovecot:
    """Debian's Dovecot, IMAP only, Maildir, run as root with its own base_dir."""
    name = "dovecot"

    def __init__(self, tmp, users, password):
        self.dir = os.path.join(tmp, "dc")
        for d in ("run", "state", "mail", "home"):
            os.makedirs(os.path.join(self.dir, d))
        nobody = pwd.getpwnam("nobody")
        for d in ("mail", "home"):
            os.chown(os.path.join(self.dir, d), nobody.pw_uid, nobody.pw_gid)
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for u in users:
                f.write("%s:{PLAIN}%s\n" % (u, password))
        # STARTTLS like mailgate's IMAP listener, with a throwaway certificate.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-subj", "/CN=localhost", "-days", "2", "-keyout", os.path.join(self.dir, "key.pem"),
                        "-out", os.path.join(self.dir, "cert.pem")], check=True, capture_output=True)
        self.imap = free_port()
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF.format(dir=self.dir, imap=self.imap, uid=nobody.pw_uid, gid=nobody.pw_gid))
        # Output to a file: the daemon would keep a pipe open for ever.
        with open(os.path.join(self.dir, "start.out"), "w") as out:
            rc = subprocess.run(["dovecot", "-c", self.conf], stdout=out, stderr=subprocess.STDOUT).returncode
        if rc != 0:
            with open(os.path.join(self.dir, "start.out")) as f:
                raise RuntimeError("dovecot: %s" % f.read())
        try:
            wait_port(self.imap)
            self.pid = read_pid(os.path.join(self.dir, "run", "master.pid"))
        except Exception:
            self.stop()
            raise

    def stop(self):
        subprocess.run(["doveadm", "-c", self.conf, "stop"], capture_output=True)


def remove(path):
    shutil.rmtree(path, ignore_errors=True)
