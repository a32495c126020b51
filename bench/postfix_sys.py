"""Postfix set up as people run it, all from Debian: port 25 relaying to a
next hop over LMTP and delivering local mail to Dovecot LMTP, submission
on 587 (STARTTLS) and 465 (implicit TLS) with Dovecot SASL and OpenDKIM as
a milter, relayhost = the SMTP sink. Dovecot also serves the IMAP cells.
fsync, logging and process limits stay at Debian's defaults except
default_process_limit (200, so 100 clients are not refused)."""

import os
import pwd
import subprocess

from servers import free_port, read_pid, stop_proc, wait_port

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
mynetworks = 127.0.0.1/32
relay_domains = relay.localhost, local.localhost
transport_maps = inline:{{ relay.localhost=lmtp:inet:127.0.0.1:{lmtp}, local.localhost=lmtp:unix:{dc}/run/lmtp-postfix }}
smtpd_relay_restrictions = permit_sasl_authenticated, permit_auth_destination, reject
relayhost = [127.0.0.1]:{sink}
disable_dns_lookups = yes
smtp_dns_support_level = disabled
smtp_host_lookup = native
lmtp_host_lookup = native
smtp_tls_security_level = none
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = none
smtpd_sasl_type = dovecot
smtpd_sasl_path = private/auth
maillog_file = {dir}/maillog
maillog_file_prefixes = {dir}
default_process_limit = 200
message_size_limit = 52428800
biff = no
"""

# The submission services are Debian's commented master.cf lines, enabled.
POSTFIX_MASTER = """\
127.0.0.1:{mx} inet n - n - - smtpd
127.0.0.1:{sub} inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_tls_auth_only=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_milters=inet:127.0.0.1:{milter}
  -o milter_macro_daemon_name=ORIGINATING
127.0.0.1:{subs} inet n - n - - smtpd
  -o syslog_name=postfix/submissions
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
  -o smtpd_milters=inet:127.0.0.1:{milter}
  -o milter_macro_daemon_name=ORIGINATING
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
lmtp unix - - n - - lmtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""

DOVECOT_CONF = """\
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
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
  args = uid={uid} gid={gid} home={dir}/home/%u allow_all_users=yes
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
service lmtp {{
  unix_listener {dir}/run/lmtp-postfix {{
    mode = 0666
  }}
}}
service auth {{
  unix_listener {pfspool}/private/auth {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

OPENDKIM_CONF = """\
Syslog yes
UMask 007
Socket inet:{port}@127.0.0.1
PidFile {dir}/opendkim.pid
Mode s
Canonicalization relaxed/relaxed
OversignHeaders From
KeyTable file:{dir}/keytable
SigningTable refile:{dir}/signingtable
UserID opendkim
RequireSafeKeys false
"""


class Dovecot:
    """Debian's Dovecot: IMAP (STARTTLS), LMTP for Postfix, SASL for Postfix."""
    name = "dovecot"

    def __init__(self, tmp, keys, users, pf_spool):
        self.dir = os.path.join(tmp, "dc")
        for d in ("run", "state", "mail", "home"):
            os.makedirs(os.path.join(self.dir, d))
        nobody = pwd.getpwnam("nobody")
        for d in ("mail", "home"):
            os.chown(os.path.join(self.dir, d), nobody.pw_uid, nobody.pw_gid)
        with open(os.path.join(self.dir, "passwd"), "w") as f:
            for u in users.imap + users.apps:
                f.write("%s:{PLAIN}%s\n" % (u, users.password))
        self.imap = free_port()
        self.conf = os.path.join(self.dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF.format(dir=self.dir, imap=self.imap, uid=nobody.pw_uid, gid=nobody.pw_gid,
                                        cert=keys["cert"], key=keys["key"], pfspool=pf_spool))
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

    def roots(self, cell=None):
        return [self.pid]

    def mailbox_dirs(self, address):
        m = os.path.join(self.dir, "mail", address)
        return [os.path.join(m, "new"), os.path.join(m, "cur")]

    def stop(self):
        subprocess.run(["doveadm", "-c", self.conf, "stop"], capture_output=True)


class OpenDKIM:
    """Debian's OpenDKIM as a signing milter for rsa.localhost with the
    RSA-2048 key. Its Ed25519 signing does not work: 2.11.0 loads an Ed25519
    key as PEM and fails with "expecting an rsa key", and as base64 DER with
    "d2i_PrivateKey_bio() failed", so Postfix has no Ed25519 cells.
    RequireSafeKeys is off because the keys live under /tmp."""

    def __init__(self, tmp, keys):
        self.dir = os.path.join(tmp, "opendkim")
        os.makedirs(self.dir)
        od = pwd.getpwnam("opendkim")
        os.chown(self.dir, od.pw_uid, od.pw_gid)
        table, signing = [], []
        for dom, sel, kt in (("rsa.localhost", "rsa", "rsa2048"),):
            path = os.path.join(self.dir, "%s.pem" % sel)
            with open(keys[kt]) as src, open(path, "w") as dst:
                dst.write(src.read())
            os.chown(path, od.pw_uid, od.pw_gid)
            os.chmod(path, 0o600)
            table.append("%s._domainkey.%s %s:%s:%s" % (sel, dom, dom, sel, path))
            signing.append("*@%s %s._domainkey.%s" % (dom, sel, dom))
        for name, lines in (("keytable", table), ("signingtable", signing)):
            with open(os.path.join(self.dir, name), "w") as f:
                f.write("\n".join(lines) + "\n")
        self.port = free_port()
        conf = os.path.join(self.dir, "opendkim.conf")
        with open(conf, "w") as f:
            f.write(OPENDKIM_CONF.format(dir=self.dir, port=self.port))
        self.proc = subprocess.Popen(["opendkim", "-f", "-x", conf], stdout=open(os.path.join(self.dir, "out"), "w"),
                                     stderr=subprocess.STDOUT)
        wait_port(self.port, proc=self.proc)
        self.pid = self.proc.pid

    def stop(self):
        stop_proc(self.proc)


class Postfix:
    """Postfix with its Dovecot (LMTP, SASL) and OpenDKIM: a cell measures
    every process it uses (roots)."""
    name = "postfix"

    def __init__(self, tmp, keys, users, smtp_sink, lmtp_sink):
        self.dir = os.path.join(tmp, "pf")
        for d in ("conf", "spool", "data"):
            os.makedirs(os.path.join(self.dir, d))
        pw = pwd.getpwnam("postfix")
        os.chown(os.path.join(self.dir, "data"), pw.pw_uid, pw.pw_gid)
        self.conf = os.path.join(self.dir, "conf")
        self.mx, self.sub, self.subs = free_port(), free_port(), free_port()
        self.dkim = OpenDKIM(tmp, keys)
        dc_dir = os.path.join(tmp, "dc")
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(POSTFIX_MAIN.format(dir=self.dir, sink=smtp_sink.port, lmtp=lmtp_sink.port, dc=dc_dir,
                                        cert=keys["cert"], key=keys["key"]))
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(POSTFIX_MASTER.format(mx=self.mx, sub=self.sub, subs=self.subs, milter=self.dkim.port))
        # postfix start makes spool/private; Dovecot puts its auth socket there.
        with open(os.path.join(self.dir, "start.out"), "w") as out:
            rc = subprocess.run(["postfix", "-c", self.conf, "start"], stdout=out, stderr=subprocess.STDOUT).returncode
        if rc != 0:
            raise RuntimeError("postfix start failed:\n%s" % self.log())
        try:
            wait_port(self.mx)
            self.pid = read_pid(os.path.join(self.dir, "spool", "pid", "master.pid"))
            self.dovecot = Dovecot(tmp, keys, users, os.path.join(self.dir, "spool"))
        except Exception:
            self.stop()
            raise
        self.imap = self.dovecot.imap

    def port(self, cell):
        return {"relay": self.mx, "local": self.mx, "starttls": self.sub, "implicit": self.subs}[cell]

    def supports(self, variant):
        return not variant.endswith("ed25519")  # see OpenDKIM

    def roots(self, cell):
        if cell == "relay":
            return [self.pid]
        if cell == "local":
            return [self.pid, self.dovecot.pid]
        return [self.pid, self.dovecot.pid, self.dkim.pid]

    def mailbox_dirs(self, address):
        return self.dovecot.mailbox_dirs(address)

    def log(self):
        try:
            with open(os.path.join(self.dir, "maillog")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def stop(self):
        subprocess.run(["postfix", "-c", self.conf, "stop"], capture_output=True)
        if getattr(self, "dovecot", None):
            self.dovecot.stop()
        self.dkim.stop()
