"""mailgate under test, as shipped: log level info, the submission chain of
mailgate.example.yaml (ratelimit, sender_policy, dkim_sign), each
application account's limit raised the way README's ratelimit section
tells (`mailgate user update ADDRESS --rate-limit 20000,100000/1m`).

Two instances: the main one (port 25 -> mailboxes, 587/465 -> smarthost =
the SMTP sink, IMAP) and a relay one whose local domain is handed over by
LMTP to the LMTP sink. mailgate relays mail from clients that did not log
in only to its own domains, so port 25 -> next hop is that route (the one
docs/delivery.md describes for mailgate in front of Dovecot)."""

import os
import subprocess

from servers import free_port, run, stop_proc, wait_port

MAIN_YAML = """\
hostname: mailgate-bench.localhost
data_dir: {dir}/data
local_domains: [bench.localhost, local.localhost, ed.localhost, rsa.localhost]
log:
  level: info
  format: json
tls:
  cert_file: {cert}
  key_file: {key}
listeners:
  - name: mx
    protocol: smtp
    address: 127.0.0.1:{mx}
    filters: []
  - name: submission
    protocol: submission
    address: 127.0.0.1:{sub}
    filters: [ratelimit, sender_policy, dkim_sign]
  - name: submissions
    protocol: submissions
    address: 127.0.0.1:{subs}
    filters: [ratelimit, sender_policy, dkim_sign]
  - name: imap
    protocol: imap
    address: 127.0.0.1:{imap}
  - name: http
    protocol: http
    address: 127.0.0.1:{http}
limits:
  max_connections_per_ip: 200
filters:
  dkim_sign:
    keys:
      - {{domain: ed.localhost, selector: ed, file: {ed}}}
      - {{domain: rsa.localhost, selector: rsa, file: {rsa}}}
delivery:
  smarthost:
    host: 127.0.0.1
    port: {sink}
    tls: none
"""

RELAY_YAML = """\
hostname: mailgate-relay.localhost
data_dir: {dir}/data
local_domains: [relay.localhost]
log:
  level: info
  format: json
listeners:
  - name: mx
    protocol: smtp
    address: 127.0.0.1:{mx}
    filters: []
  - name: http
    protocol: http
    address: 127.0.0.1:{http}
limits:
  max_connections_per_ip: 200
delivery:
  local:
    lmtp: 127.0.0.1:{lmtp}
"""

# README, ratelimit: "mailgate user update ADDRESS --rate-limit 20000,100000/1m"
APP_RATE_LIMIT = "20000,100000/1m"


class _Instance:
    def __init__(self, binary, d, yaml_text):
        self.binary, self.dir = binary, d
        os.makedirs(d)
        self.conf = os.path.join(d, "mailgate.yaml")
        with open(self.conf, "w") as f:
            f.write(yaml_text)
        run([binary, "check-config", self.conf])

    def add_user(self, address, password, rate_limit=None):
        cmd = [self.binary, "user", "add", address, "--password-stdin", "-config", self.conf]
        if rate_limit:
            cmd += ["--rate-limit", rate_limit]
        run(cmd, input=password + "\n")

    def start(self, port):
        self.proc = subprocess.Popen([self.binary, "serve", "-config", self.conf],
                                     stdout=open(os.path.join(self.dir, "serve.log"), "w"), stderr=subprocess.STDOUT)
        wait_port(port, proc=self.proc)
        self.pid = self.proc.pid

    def stop(self):
        stop_proc(getattr(self, "proc", None))


class Mailgate:
    """Both instances; roots() gives the one a cell measures. name is
    "mailgate" for this tree, "baseline" for --baseline's build."""

    def __init__(self, binary, tmp, keys, smtp_sink, lmtp_sink, users, name="mailgate", relay=True):
        self.name = name
        d = os.path.join(tmp, name)
        self.mx, self.sub, self.subs, self.imap = free_port(), free_port(), free_port(), free_port()
        self.relay_mx = free_port()
        self.main = _Instance(binary, os.path.join(d, "main"), MAIN_YAML.format(
            dir=os.path.join(d, "main"), cert=keys["cert"], key=keys["key"], mx=self.mx, sub=self.sub,
            subs=self.subs, imap=self.imap, http=free_port(), ed=keys["ed25519"], rsa=keys["rsa2048"],
            sink=smtp_sink.port))
        self.relay = relay and _Instance(binary, os.path.join(d, "relay"), RELAY_YAML.format(
            dir=os.path.join(d, "relay"), mx=self.relay_mx, http=free_port(), lmtp=lmtp_sink.port))
        for u in users.imap + users.local:
            self.main.add_user(u, users.password)
        for u in users.apps:
            self.main.add_user(u, users.password, APP_RATE_LIMIT)
        self.main.start(self.sub)
        if self.relay:
            self.relay.add_user(users.relay_rcpt, users.password)
            self.relay.start(self.relay_mx)

    def has(self, cell):
        """A build without delivery.local.lmtp (before 2026-12-05) has no
        relay cell: it relays mail from clients that did not log in only
        into its own mailboxes."""
        return cell != "relay" or bool(self.relay)

    def port(self, cell):
        return {"relay": self.relay_mx, "local": self.mx, "starttls": self.sub, "implicit": self.subs}[cell]

    def roots(self, cell):
        return [self.relay.pid] if cell == "relay" else [self.main.pid]

    def mailbox_dirs(self, address):
        m = os.path.join(self.main.dir, "data", "mail", address)
        return [os.path.join(m, "new"), os.path.join(m, "cur")]

    def stop(self):
        if self.relay:
            self.relay.stop()
        self.main.stop()
