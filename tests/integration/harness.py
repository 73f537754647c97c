"""Shared machinery for the vestnik integration tests.

Everything here talks to a real vestnikd over loopback:

* Server      - writes a config, creates accounts with vestnikctl, starts
                vestnikd, waits for its ports, stops it with SIGTERM (or
                kills it with SIGKILL, for crash tests, and starts it again
                on the same data_dir and ports).
* RawClient   - an asyncio XMPP client speaking raw XML (own SCRAM code,
                channel binding, STARTTLS/direct TLS) for wire-level checks.
* XClient     - a thin wrapper around Debian's slixmpp (a client library this
                project did not write) that records every inbound stanza.
* Context     - what each test function receives.

Run the tests with tests/integration/run.py, never directly.
"""

import asyncio
import base64
import hashlib
import hmac
import itertools
import logging
import os
import re
import resource
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import unicodedata
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape as _xml_escape, quoteattr as _quoteattr

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

NS_STREAM = "http://etherx.jabber.org/streams"
NS_CLIENT = "jabber:client"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_STREAM_ERR = "urn:ietf:params:xml:ns:xmpp-streams"
NS_STANZA_ERR = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_ROSTER = "jabber:iq:roster"
NS_ROSTERVER = "urn:xmpp:features:rosterver"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_PING = "urn:xmpp:ping"
NS_VERSION = "jabber:iq:version"
NS_TIME = "urn:xmpp:time"
NS_DELAY = "urn:xmpp:delay"

IDN_DOMAIN = "испытание.рф"
IDN_DOMAIN_ACE = IDN_DOMAIN.encode("idna").decode("ascii")  # xn--80akhbyknj4f.xn--p1ai
DOMAINS = ["localhost", IDN_DOMAIN]

STREAM_HEADER = ("<stream:stream xmlns='jabber:client' "
                 "xmlns:stream='http://etherx.jabber.org/streams'"
                 "{to} version='{version}' xml:lang='en'>")

VERBOSE = False
_log = logging.getLogger("it")


class TestFailure(AssertionError):
    pass


def q(tag, ns=NS_CLIENT):
    """Clark notation: q('message') -> '{jabber:client}message'."""
    return "{%s}%s" % (ns, tag)


def xesc(text):
    return _xml_escape(text)


def xattr(value):
    """A quoted XML attribute value, quotes included."""
    return _quoteattr(value)


def tostr(elem):
    if elem is None:
        return "<none>"
    if hasattr(elem, "xml"):  # slixmpp stanza
        elem = elem.xml
    try:
        return ET.tostring(elem, encoding="unicode")
    except Exception:  # pragma: no cover - diagnostics only
        return repr(elem)


def local(tag):
    return tag.rsplit("}", 1)[-1]


def ns_of(tag):
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def check(cond, msg, *elems):
    if not cond:
        if elems:
            msg += "\n" + "\n".join("    " + tostr(e) for e in elems)
        raise TestFailure(msg)


def stanza_error(elem):
    """(type, condition) of an <error/> child of a stanza, or (None, None)."""
    if hasattr(elem, "xml"):
        elem = elem.xml
    err = None
    for child in elem:
        if local(child.tag) == "error":
            err = child
    if err is None:
        return None, None
    cond = None
    for c in err:
        if ns_of(c.tag) == NS_STANZA_ERR and local(c.tag) != "text":
            cond = local(c.tag)
    return err.get("type"), cond


def bare(jid):
    return str(jid).split("/", 1)[0]


def free_port(_used=set()):
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _used:
            _used.add(port)
            return port


def insecure_tls_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def sni_name(domain):
    return domain.encode("idna").decode("ascii")


# ---------------------------------------------------------------------------
# Server
# ---------------------------------------------------------------------------

def default_config():
    return {
        "server": {"domain": ",".join(DOMAINS), "log_level": "debug", "hash_threads": "1"},
        "c2s": {
            "max_stanza_size": "65536",
            "max_depth": "32",
            "max_attributes": "32",
            "auth_timeout": "5",
            "idle_timeout": "0",
            "max_offline": "100",
        },
        "tls": {"cert": "", "key": ""},
        "auth": {
            "allow_plain": "false",
            "scram_iterations": "4096",
            # Every test client comes from 127.0.0.1: a low per-address limit
            # in a shared server would let one test lock out the next. The
            # address and account tiers of sign-in throttling likewise
            # (tests/integration/test_lockout.py sets its own).
            "max_failures": "1000",
            "lockout": "1",
            "address_max_failures": "100000",
            "account_max_failures": "100000",
        },
    }


def merge_config(base, *overrides):
    out = {s: dict(v) for s, v in base.items()}
    for ov in overrides:
        for sect, kv in (ov or {}).items():
            out.setdefault(sect, {})
            for k, v in kv.items():
                if isinstance(v, bool):
                    v = "true" if v else "false"
                out[sect][k] = str(v)
    return out


def binary(envname, default):
    path = os.environ.get(envname) or default
    if not os.path.isabs(path):
        path = os.path.join(REPO_ROOT, path)
    return path


VESTNIKD = binary("VESTNIKD", "build/vestnikd")
VESTNIKCTL = binary("VESTNIKCTL", "build/vestnikctl")
SANITIZER_MARKERS = ("AddressSanitizer", "LeakSanitizer", "runtime error:")


class ServerError(Exception):
    pass


class Server:
    """One vestnikd process with its own data_dir and loopback ports."""

    def __init__(self, name, config=None, accounts=None, workdir=None, keep=False, nofile=None):
        self.name = name
        self.keep = keep
        # RLIMIT_NOFILE for vestnikd: None (inherited), N (soft = hard = N),
        # or (soft, hard); set in the child before exec.
        self.nofile = nofile
        self.own_workdir = workdir is None
        self.workdir = workdir or tempfile.mkdtemp(prefix="vestnik-it-%s-" % re.sub(r"\W", "_", name)[:40])
        self.data_dir = os.path.join(self.workdir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port()
        self.cfg = merge_config(default_config(), {
            "server": {"data_dir": self.data_dir},
            "c2s": {"listen": "127.0.0.1:%d" % self.port,
                    "direct_tls": "127.0.0.1:%d" % self.tls_port},
        }, config)
        self.accounts = dict(accounts or {})
        self.config_path = os.path.join(self.workdir, "vestnik.conf")
        self.stderr_path = os.path.join(self.workdir, "vestnikd.stderr")
        self.proc = None
        self.starts = 0
        self.kills = 0
        self.stopped_rc = None
        self.write_config()

    # -- configuration ----------------------------------------------------
    def write_config(self):
        lines = ["; generated by tests/integration"]
        for sect, kv in self.cfg.items():
            lines.append("[%s]" % sect)
            for k, v in kv.items():
                lines.append("%s = %s" % (k, v))
            lines.append("")
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))

    def setting(self, sect, key):
        return self.cfg[sect][key]

    # -- vestnikctl --------------------------------------------------------
    def ctl(self, *args, input=None, timeout=30):
        cmd = [VESTNIKCTL, "--config", self.config_path] + list(args)
        try:
            p = subprocess.run(cmd, input=(input if input is not None else "").encode("utf-8"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        except FileNotFoundError:
            raise ServerError("vestnikctl not found at %s (set VESTNIKCTL)" % VESTNIKCTL)
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        self._ctl_log("$ %s -> %d\n%s%s" % (" ".join(cmd[1:]), p.returncode, out, err))
        return p.returncode, out, err

    def _ctl_log(self, text):
        with open(os.path.join(self.workdir, "vestnikctl.log"), "a", encoding="utf-8") as f:
            f.write(text + "\n")

    def add_user(self, jid, password):
        rc, out, err = self.ctl("user", "add", jid, input=password + "\n")
        if rc != 0:
            raise ServerError("vestnikctl user add %s failed (rc=%d): %s%s" % (jid, rc, out, err))
        self.accounts[jid] = password

    def create_accounts(self):
        for jid, pw in list(self.accounts.items()):
            self.add_user(jid, pw)

    # -- process -----------------------------------------------------------
    def start(self, timeout=20):
        if not os.path.exists(VESTNIKD):
            raise ServerError("vestnikd not found at %s (set VESTNIKD)" % VESTNIKD)
        if self.starts == 0:
            self.create_accounts()
        self.starts += 1
        errf = open(self.stderr_path, "ab")
        errf.write(("\n===== start #%d =====\n" % self.starts).encode())
        errf.flush()
        self.stderr_start = errf.tell()
        self.proc = subprocess.Popen([VESTNIKD, "--config", self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=errf, stderr=errf,
                                     cwd=self.workdir, start_new_session=True,
                                     preexec_fn=self._limits if self.nofile else None)
        errf.close()
        self.stopped_rc = None
        deadline = time.monotonic() + timeout
        pending = [self.port, self.tls_port]
        while pending:
            if self.proc.poll() is not None:
                raise ServerError("vestnikd exited with %s during start-up" % self.proc.returncode)
            try:
                with socket.create_connection(("127.0.0.1", pending[0]), timeout=0.5):
                    pass
                pending.pop(0)
                continue
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServerError("vestnikd did not listen on 127.0.0.1:%d within %ds" % (pending[0], timeout))
            time.sleep(0.05)

    def _limits(self):
        # Runs in the child between fork and exec.
        soft, hard = self.nofile if isinstance(self.nofile, tuple) else (self.nofile, self.nofile)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    def cpu_seconds(self):
        """utime + stime of vestnikd (all threads), from /proc/PID/stat."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def terminate(self):
        """Send SIGTERM (tests that check shutdown behaviour call this)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=None):
        """SIGTERM and wait. Returns a list of problems (empty when clean)."""
        if timeout is None:
            timeout = float(os.environ.get("VESTNIK_STOP_TIMEOUT", "5"))
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.wait(timeout)
        if rc is None:
            problems.append("vestnikd did not exit within %.0fs of SIGTERM (killed)" % timeout)
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait()
        elif rc != 0:
            problems.append("vestnikd exited with status %d (want 0)" % rc)
        self.stopped_rc = rc
        self.proc = None
        problems += self.sanitizer_problems(0)
        return problems

    def kill(self):
        """SIGKILL, as a crash: no shutdown code runs. Waits for the exit and
        returns the exit status (-9). start() again runs a new process on the
        same data_dir and ports. A test that kills must start the server
        again before it ends: the runner's stop() wants exit status 0."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        self.kills += 1
        return self.proc.wait()

    def restart(self):
        problems = self.stop()
        if problems:
            raise TestFailure("restart: " + "; ".join(problems))
        self.start()

    def stderr_size(self):
        try:
            return os.path.getsize(self.stderr_path)
        except OSError:
            return 0

    def stderr_text(self, offset=0):
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def sanitizer_problems(self, offset):
        text = self.stderr_text(offset)
        found = [m for m in SANITIZER_MARKERS if m in text]
        return ["server stderr contains %r" % m for m in found]

    def cleanup(self, ok):
        if self.own_workdir and ok and not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def metrics(self, timeout=5.0):
        """The server's metrics as {name: value}: SIGUSR1 makes vestnikd log
        one 'metric NAME VALUE' line each (the store queue comes last)."""
        off = self.stderr_size()
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stderr_text(off)
            if "metric vestnik_store_queue" in text:
                return {m.group(1): int(m.group(2))
                        for m in re.finditer(r"metric (vestnik_\w+) (\d+)", text)}
            time.sleep(0.02)
        raise TestFailure("no metrics logged after SIGUSR1")

    def rss_kib(self):
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None


# ---------------------------------------------------------------------------
# SCRAM (RFC 5802 / RFC 7677) for the raw client
# ---------------------------------------------------------------------------

def _saslname(s):
    return s.replace("=", "=3D").replace(",", "=2C")


def _hfunc(mech):
    return "sha256" if "SHA-256" in mech else "sha1"


def tls_server_end_point(der):
    """RFC 5929 §4.1: hash of the certificate with its signature hash,
    MD5/SHA-1 upgraded to SHA-256."""
    name = "sha256"
    try:
        from cryptography import x509
        algo = x509.load_der_x509_certificate(der).signature_hash_algorithm
        if algo is not None and algo.name not in ("md5", "sha1"):
            name = algo.name
    except Exception:
        pass
    return hashlib.new(name, der).digest()


class Scram:
    def __init__(self, mech, username, password, cb_type=None, cb_data=b"", gs2_flag=None,
                 nonce=None):
        self.mech = mech
        self.h = _hfunc(mech)
        self.username = username
        self.password = unicodedata.normalize("NFKC", password)
        if gs2_flag is None:
            gs2_flag = ("p=" + cb_type) if cb_type else "n"
        self.gs2 = (gs2_flag + ",,").encode()
        self.cb_data = cb_data if gs2_flag.startswith("p=") else b""
        self.cnonce = nonce or base64.b64encode(secrets.token_bytes(18)).decode()
        self.first_bare = "n=%s,r=%s" % (_saslname(username), self.cnonce)
        self.server_sig = None

    def first(self):
        return self.gs2 + self.first_bare.encode("utf-8")

    def final(self, server_first):
        sf = server_first.decode("utf-8")
        attrs = dict(kv.split("=", 1) for kv in sf.split(","))
        if not attrs["r"].startswith(self.cnonce):
            raise TestFailure("server nonce does not extend client nonce: %r" % sf)
        salt = base64.b64decode(attrs["s"])
        iters = int(attrs["i"])
        self.iterations = iters
        salted = hashlib.pbkdf2_hmac(self.h, self.password.encode("utf-8"), salt, iters)
        client_key = hmac.new(salted, b"Client Key", self.h).digest()
        stored_key = hashlib.new(self.h, client_key).digest()
        cfwp = "c=%s,r=%s" % (base64.b64encode(self.gs2 + self.cb_data).decode(), attrs["r"])
        auth_msg = ",".join([self.first_bare, sf, cfwp]).encode("utf-8")
        client_sig = hmac.new(stored_key, auth_msg, self.h).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, client_sig))
        server_key = hmac.new(salted, b"Server Key", self.h).digest()
        self.server_sig = hmac.new(server_key, auth_msg, self.h).digest()
        return (cfwp + ",p=" + base64.b64encode(proof).decode()).encode()

    def verify(self, server_final):
        sf = server_final.decode("utf-8")
        check(sf.startswith("v="), "SCRAM server-final is not a verifier: %r" % sf)
        check(base64.b64decode(sf[2:]) == self.server_sig,
              "SCRAM server signature does not verify (server-final %r)" % sf)


class AuthFailed(TestFailure):
    def __init__(self, condition, elem=None):
        super().__init__("SASL failure <%s/>" % condition)
        self.condition = condition
        self.elem = elem


# ---------------------------------------------------------------------------
# Raw client
# ---------------------------------------------------------------------------

class StreamClosed(TestFailure):
    pass


class Event:
    __slots__ = ("kind", "elem", "attrs", "t")

    def __init__(self, kind, elem=None, attrs=None):
        self.kind = kind  # header | element | close | eof
        self.elem = elem
        self.attrs = attrs
        self.t = time.monotonic()

    def __repr__(self):
        if self.kind == "element":
            return "<element %s>" % tostr(self.elem)
        if self.kind == "header":
            return "<header %r>" % self.attrs
        return "<%s>" % self.kind


_ids = itertools.count(1)


def new_id(prefix="t"):
    return "%s%d" % (prefix, next(_ids))


class RawClient:
    """A minimal XMPP client that reads the server's output as a stream of
    parsed top-level elements (strict XML parser: anything the server sends
    that is not well-formed fails the test)."""

    def __init__(self, server, direct_tls=False, domain="localhost", label="raw"):
        self.server = server
        self.direct_tls = direct_tls
        self.domain = domain
        self.label = label
        self.reader = self.writer = None
        self.events = []
        self.header_attrs = None
        self.features = None
        self.jid = None
        self.peer_cert = None
        self.tls = False
        self.rx = bytearray()  # everything received, for diagnostics
        self.eof = False
        self._new_parser()

    # -- transport ---------------------------------------------------------
    async def connect(self, local_addr=None, timeout=5):
        port = self.server.tls_port if self.direct_tls else self.server.port
        kw = {}
        if self.direct_tls:
            kw["ssl"] = insecure_tls_context()
            kw["server_hostname"] = sni_name(self.domain)
        if local_addr:
            kw["local_addr"] = (local_addr, 0)
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, limit=1 << 20, **kw), timeout)
        if self.direct_tls:
            self._tls_done()
        return self

    def _tls_done(self):
        self.tls = True
        sslobj = self.writer.get_extra_info("ssl_object")
        self.peer_cert = sslobj.getpeercert(binary_form=True)
        self.tls_version = sslobj.version()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        if VERBOSE:
            _log.debug("%s >> %r", self.label, data[:300])
        self.writer.write(data)

    async def send_drain(self, data):
        self.send(data)
        await self.writer.drain()

    def abort(self):
        if self.writer is not None:
            try:
                self.writer.transport.abort()
            except Exception:
                pass

    async def close(self, send_footer=True):
        if self.writer is None:
            return
        try:
            if send_footer and not self.eof:
                self.send("</stream:stream>")
                await asyncio.wait_for(self.writer.drain(), 1)
            self.writer.close()
            await asyncio.wait_for(self.writer.wait_closed(), 1)
        except Exception:
            self.abort()

    # -- parsing -------------------------------------------------------------
    def _new_parser(self):
        self.parser = ET.XMLPullParser(events=("start", "end"))
        self.depth = 0

    def _feed(self, data):
        self.rx += data
        try:
            self.parser.feed(data)
            if hasattr(self.parser, "flush"):
                self.parser.flush()
            evs = list(self.parser.read_events())
        except ET.ParseError as e:
            raise TestFailure("%s: server sent XML that is not well-formed (%s); received so far:\n%s"
                              % (self.label, e, bytes(self.rx[-2000:]).decode("utf-8", "replace")))
        for kind, el in evs:
            if kind == "start":
                self.depth += 1
                if self.depth == 1:
                    self.header_attrs = dict(el.attrib)
                    self.events.append(Event("header", attrs=dict(el.attrib), elem=el))
            else:
                if self.depth == 2:
                    self.events.append(Event("element", elem=el))
                elif self.depth == 1:
                    self.events.append(Event("close"))
                self.depth -= 1

    async def next_event(self, timeout=5):
        deadline = time.monotonic() + timeout
        while not self.events:
            if self.eof:
                return Event("eof")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise asyncio.TimeoutError()
            try:
                data = await asyncio.wait_for(self.reader.read(65536), remaining)
            except asyncio.TimeoutError:  # (a subclass of OSError since 3.11)
                raise
            except (ConnectionError, ssl.SSLError, OSError):
                data = b""
            if VERBOSE and data:
                _log.debug("%s << %r", self.label, data[:300])
            if not data:
                self.eof = True
                continue
            self._feed(data)
        return self.events.pop(0)

    async def poll(self, timeout=0.0):
        """True if the server has sent something (left queued for the next read)."""
        try:
            ev = await self.next_event(timeout)
        except asyncio.TimeoutError:
            return False
        self.events.insert(0, ev)
        if ev.kind == "eof":
            self.eof = True
        return True

    async def element(self, timeout=5, what="an element"):
        """Next top-level element; a stream error or closed stream fails."""
        try:
            ev = await self.next_event(timeout)
        except asyncio.TimeoutError:
            raise TestFailure("%s: timed out after %.1fs waiting for %s" % (self.label, timeout, what))
        if ev.kind == "element":
            if ev.elem.tag == q("error", NS_STREAM):
                raise StreamClosed("%s: got stream error <%s/> while waiting for %s" %
                                   (self.label, stream_error_condition(ev.elem), what), ev.elem)
            return ev.elem
        if ev.kind == "header":
            raise TestFailure("%s: unexpected stream header while waiting for %s" % (self.label, what))
        raise StreamClosed("%s: stream %s while waiting for %s" % (self.label, ev.kind, what))

    async def wait_for(self, pred, timeout=5, what="a matching stanza"):
        """Skip non-matching elements until one satisfies pred."""
        deadline = time.monotonic() + timeout
        skipped = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TestFailure("%s: no %s within %.1fs; got instead: %s" %
                                  (self.label, what, timeout, [tostr(e) for e in skipped] or "nothing"))
            el = await self.element(remaining, what)
            if pred(el):
                return el
            skipped.append(el)

    async def quiet(self, duration=0.5, pred=lambda el: True):
        """Assert that nothing matching pred arrives within duration."""
        deadline = time.monotonic() + duration
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            try:
                ev = await self.next_event(remaining)
            except asyncio.TimeoutError:
                return
            if ev.kind == "element" and pred(ev.elem):
                raise TestFailure("%s: unexpected %s" % (self.label, tostr(ev.elem)))
            if ev.kind in ("close", "eof"):
                raise StreamClosed("%s: stream %s unexpectedly" % (self.label, ev.kind))

    async def stream_end(self, timeout=5):
        """Read until the server closes the connection. Returns
        (stream error condition or None, saw </stream:stream>, elements)."""
        deadline = time.monotonic() + timeout
        cond, closed, elems = None, False, []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TestFailure("%s: server did not close the connection within %.1fs "
                                  "(got %s)" % (self.label, timeout, [tostr(e) for e in elems]))
            try:
                ev = await self.next_event(remaining)
            except asyncio.TimeoutError:
                continue
            if ev.kind == "element":
                elems.append(ev.elem)
                if ev.elem.tag == q("error", NS_STREAM):
                    cond = stream_error_condition(ev.elem)
            elif ev.kind == "close":
                closed = True
            elif ev.kind == "eof":
                return cond, closed, elems

    async def expect_stream_error(self, conditions, timeout=5):
        if isinstance(conditions, str):
            conditions = (conditions,)
        cond, closed, elems = await self.stream_end(timeout)
        check(cond in conditions,
              "%s: expected stream error %s, got %s" % (self.label, "/".join(conditions), cond),
              *elems)
        check(closed, "%s: stream error <%s/> was not followed by </stream:stream>" % (self.label, cond))
        return cond

    # -- stream negotiation -------------------------------------------------
    def send_header(self, to=None, version="1.0", header=None, prolog="<?xml version='1.0'?>"):
        """Send a (new) stream header; the next server data is parsed as a new stream."""
        self._new_parser()
        if header is None:
            to = self.domain if to is None else to
            header = STREAM_HEADER.format(to=(" to=%s" % xattr(to)) if to else "", version=version)
        self.send(prolog + header)

    async def open(self, to=None, version="1.0", header=None, timeout=5):
        """Send a stream header; return the server's <stream:features/>."""
        self.send_header(to, version, header)
        ev = await self.next_event(timeout)
        if ev.kind != "header":
            raise StreamClosed("%s: expected a stream header, got %r" % (self.label, ev))
        check(ev.elem.tag == q("stream", NS_STREAM), "%s: bad stream root %s" % (self.label, ev.elem.tag))
        self.features = await self.element(timeout, "stream features")
        check(self.features.tag == q("features", NS_STREAM),
              "%s: expected <stream:features/>" % self.label, self.features)
        return self.features

    def mechanisms(self, features=None):
        features = self.features if features is None else features
        mechs = features.find(q("mechanisms", NS_SASL))
        if mechs is None:
            return []
        return [m.text.strip() for m in mechs.findall(q("mechanism", NS_SASL)) if m.text]

    async def starttls(self, open_stream=True):
        """STARTTLS; then (open_stream) restart the stream and return the features."""
        check(self.features.find(q("starttls", NS_TLS)) is not None,
              "%s: server does not offer STARTTLS" % self.label, self.features)
        self.send("<starttls xmlns='%s'/>" % NS_TLS)
        el = await self.element(what="<proceed/>")
        check(el.tag == q("proceed", NS_TLS), "%s: STARTTLS not answered with <proceed/>" % self.label, el)
        check(not self.events, "%s: data after <proceed/>" % self.label)
        await self.writer.start_tls(insecure_tls_context(), server_hostname=sni_name(self.domain))
        self._tls_done()
        if open_stream:
            return await self.open()

    async def secure(self):
        """Open the stream and get TLS, whichever port this is."""
        await self.open()
        if not self.direct_tls:
            await self.starttls()
        return self.features

    async def sasl(self, mech, initial=None):
        """Start SASL; returns the first server element (challenge/success/failure)."""
        body = "=" if initial == b"" else (base64.b64encode(initial).decode() if initial else "")
        self.send("<auth xmlns='%s' mechanism='%s'>%s</auth>" % (NS_SASL, mech, body))
        return await self.element(what="SASL answer to <auth/>")

    async def auth_scram(self, username, password, mech="SCRAM-SHA-256", cb=None, cb_data=None,
                         gs2_flag=None):
        """SCRAM exchange. cb='tls-server-end-point' uses channel binding
        (cb_data computed from the peer certificate unless given).
        Raises AuthFailed(condition) on <failure/>."""
        if cb and cb_data is None:
            cb_data = tls_server_end_point(self.peer_cert)
        sc = Scram(mech, username, password, cb_type=cb, cb_data=cb_data or b"", gs2_flag=gs2_flag)
        el = await self.sasl(mech, sc.first())
        if el.tag == q("failure", NS_SASL):
            raise AuthFailed(sasl_failure_condition(el), el)
        check(el.tag == q("challenge", NS_SASL), "%s: expected SCRAM challenge" % self.label, el)
        server_first = base64.b64decode(el.text or "")
        self.send("<response xmlns='%s'>%s</response>" %
                  (NS_SASL, base64.b64encode(sc.final(server_first)).decode()))
        el = await self.element(what="SASL outcome")
        if el.tag == q("failure", NS_SASL):
            raise AuthFailed(sasl_failure_condition(el), el)
        if el.tag == q("challenge", NS_SASL):  # server-final as a challenge (allowed)
            sc.verify(base64.b64decode(el.text or ""))
            self.send("<response xmlns='%s'/>" % NS_SASL)
            el = await self.element(what="SASL success")
            check(el.tag == q("success", NS_SASL), "%s: expected <success/>" % self.label, el)
        else:
            check(el.tag == q("success", NS_SASL), "%s: expected <success/>" % self.label, el)
            sc.verify(base64.b64decode(el.text or ""))
        self.scram = sc
        return el

    async def auth_plain(self, username, password):
        el = await self.sasl("PLAIN", b"\0" + username.encode() + b"\0" + password.encode())
        if el.tag == q("failure", NS_SASL):
            raise AuthFailed(sasl_failure_condition(el), el)
        check(el.tag == q("success", NS_SASL), "%s: expected <success/>" % self.label, el)
        return el

    async def bind(self, resource=None):
        check(self.features.find(q("bind", NS_BIND)) is not None,
              "%s: no <bind/> feature after authentication" % self.label, self.features)
        res = "<resource>%s</resource>" % xesc(resource) if resource is not None else ""
        iq = await self.iq("set", "<bind xmlns='%s'>%s</bind>" % (NS_BIND, res), to=None)
        check(iq.get("type") == "result", "%s: bind failed" % self.label, iq)
        jid_el = iq.find("%s/%s" % (q("bind", NS_BIND), q("jid", NS_BIND)))
        check(jid_el is not None and jid_el.text, "%s: bind result without <jid/>" % self.label, iq)
        self.jid = jid_el.text
        return self.jid

    async def login(self, username, password, resource=None, mech="SCRAM-SHA-256", presence=False,
                    **kw):
        await self.secure()
        await self.auth_scram(username, password, mech, **kw)
        await self.open()
        await self.bind(resource)
        if presence is not False:
            self.send("<presence>%s</presence>" %
                      ("" if presence is True else "<priority>%d</priority>" % presence))
        return self

    # -- stanzas ------------------------------------------------------------
    async def iq(self, type_, payload, to=None, timeout=5):
        iid = new_id("iq")
        to_attr = " to=%s" % xattr(to) if to else ""
        self.send("<iq type='%s' id='%s'%s>%s</iq>" % (type_, iid, to_attr, payload))
        return await self.wait_for(lambda el: el.tag == q("iq") and el.get("id") == iid
                                   and el.get("type") in ("result", "error"),
                                   timeout, "reply to iq %s" % iid)

    async def ping_server(self, timeout=5):
        iq = await self.iq("get", "<ping xmlns='%s'/>" % NS_PING, to=self.domain, timeout=timeout)
        check(iq.get("type") == "result", "%s: ping to server failed" % self.label, iq)
        return iq

    def message(self, to, body, type_="chat", id_=None):
        self.send("<message to=%s type='%s' id='%s'><body>%s</body></message>" %
                  (xattr(to), type_, id_ or new_id("m"), xesc(body)))


def stream_error_condition(err):
    for c in err:
        if ns_of(c.tag) == NS_STREAM_ERR and local(c.tag) != "text":
            return local(c.tag)
    return None


def sasl_failure_condition(el):
    for c in el:
        if ns_of(c.tag) == NS_SASL and local(c.tag) != "text":
            return local(c.tag)
    return None


# ---------------------------------------------------------------------------
# slixmpp client
# ---------------------------------------------------------------------------

_slix = None


def slix():
    global _slix
    if _slix is None:
        import slixmpp  # Debian's python3-slixmpp (run.py re-execs /usr/bin/python3)
        _slix = slixmpp
    return _slix


class LoginFailed(TestFailure):
    def __init__(self, msg, condition=None):
        super().__init__(msg)
        self.condition = condition


class XClient:
    """slixmpp client that records every inbound top-level element."""

    def __init__(self, server, jid, password, direct_tls=False, mech=None, label=None):
        s = slix()
        self.server = server
        self.direct_tls = direct_tls
        self.label = label or jid
        self.x = s.ClientXMPP(jid, password, sasl_mech=mech)
        x = self.x
        x.ssl_context.check_hostname = False
        x.ssl_context.verify_mode = ssl.CERT_NONE
        x.whitespace_keepalive = False
        x.auto_authorize = None
        x.auto_subscribe = False
        for p in ("xep_0030", "xep_0199", "xep_0092", "xep_0202"):
            x.register_plugin(p)
        x.add_filter("in", self._inbound)
        self.inbox = []
        self._new = asyncio.Event()
        self.stream_errors = []
        self.failure = None
        self.disconnected = asyncio.Event()
        self._started = asyncio.get_event_loop().create_future()
        x.add_event_handler("session_start", self._on_start)
        x.add_event_handler("failed_auth", self._on_failed_auth)
        x.add_event_handler("failed_all_auth", self._on_failed_all)
        x.add_event_handler("disconnected", self._on_disconnected)
        x.add_event_handler("connection_failed", self._on_conn_failed)
        x.add_event_handler("stream_error", lambda e: self.stream_errors.append(e))

    # events
    def _inbound(self, stanza):
        self.inbox.append(stanza)
        self._new.set()
        return stanza

    def _settle(self, exc=None):
        if not self._started.done():
            if exc is None:
                self._started.set_result(True)
            else:
                self._started.set_exception(exc)

    def _on_start(self, _):
        self.inbox.clear()  # drop stream negotiation (features, SASL, bind)
        self._settle()

    def _on_failed_auth(self, stanza):
        self.failure = stanza["condition"]

    def _on_failed_all(self, _):
        self._settle(LoginFailed("%s: authentication failed (%s)" % (self.label, self.failure),
                                 self.failure))

    def _on_conn_failed(self, e):
        self._settle(LoginFailed("%s: connection failed: %s" % (self.label, e)))

    def _on_disconnected(self, reason):
        self.disconnected.set()
        self._settle(LoginFailed("%s: disconnected before session start (%s; auth failure: %s; "
                                 "stream errors: %s)" % (self.label, reason, self.failure,
                                                         [tostr(e) for e in self.stream_errors]),
                                 self.failure))

    # connection
    async def start(self, timeout=10):
        port = self.server.tls_port if self.direct_tls else self.server.port
        self.x.connect(("127.0.0.1", port), use_ssl=self.direct_tls)
        try:
            await asyncio.wait_for(asyncio.shield(self._started), timeout)
        except asyncio.TimeoutError:
            self.abort()
            raise TestFailure("%s: no session within %.0fs (auth failure: %s)" %
                              (self.label, timeout, self.failure))
        except LoginFailed:
            self.abort()
            raise
        return self

    @property
    def jid(self):
        return self.x.boundjid

    @property
    def mech(self):
        m = getattr(self.x["feature_mechanisms"], "mech", None)
        return getattr(m, "name", None)

    async def stop(self):
        if not self.disconnected.is_set() and self.x.transport is not None:
            try:
                await asyncio.wait_for(self.x.disconnect(wait=1), 3)
            except Exception:
                self.x.abort()
        self.x.cancel_connection_attempt()

    def abort(self):
        try:
            self.x.cancel_connection_attempt()
            self.x.abort()
        except Exception:  # transport already half torn down
            pass

    # sending
    def send_raw(self, data):
        # through slixmpp's send queue, so that it stays in order with
        # message()/presence()/iq() sent before it
        self.x.send(data)

    def presence(self, priority=None, show=None, status=None, to=None, type_=None):
        p = self.x.Presence()
        if to:
            p["to"] = to
        if type_:
            p["type"] = type_
        if show:
            p["show"] = show
        if status:
            p["status"] = status
        if priority is not None:
            p["priority"] = priority
        p.send()

    def message(self, to, body, type_="chat", id_=None):
        m = self.x.make_message(mto=to, mbody=body, mtype=type_)
        m["id"] = id_ or new_id("m")
        m.send()
        return m["id"]

    async def iq(self, type_, payload=None, to=None, timeout=5):
        """Send an IQ (payload: XML string). Returns the reply stanza, result or error."""
        iq = self.x.Iq()
        iq["type"] = type_
        if to:
            iq["to"] = to
        if payload:
            iq.append(ET.fromstring(payload))
        s = slix()
        try:
            return (await iq.send(timeout=timeout)).xml
        except s.exceptions.IqError as e:
            return e.iq.xml
        except s.exceptions.IqTimeout:
            raise TestFailure("%s: no reply to %s within %ss" % (self.label, tostr(iq), timeout))

    # receiving
    async def expect(self, pred, timeout=5, what="a matching stanza"):
        deadline = time.monotonic() + timeout
        while True:
            for i, st in enumerate(self.inbox):
                if pred(st.xml):
                    del self.inbox[i]
                    return st.xml
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TestFailure("%s: no %s within %.1fs; inbox: %s" %
                                  (self.label, what, timeout, [tostr(s) for s in self.inbox] or "empty"))
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def quiet(self, pred, duration=0.5, what="stanza"):
        """Assert no inbound stanza matching pred within duration (also checks
        what is already in the inbox)."""
        deadline = time.monotonic() + duration
        while True:
            for st in self.inbox:
                if pred(st.xml):
                    raise TestFailure("%s: unexpected %s: %s" % (self.label, what, tostr(st)))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._new.clear()
            try:
                await asyncio.wait_for(self._new.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def drop(self, pred):
        self.inbox = [s for s in self.inbox if not pred(s.xml)]


# ---------------------------------------------------------------------------
# Stanza predicates (operate on ElementTree elements)
# ---------------------------------------------------------------------------

def body_of(el):
    b = el.find(q("body"))
    return b.text if b is not None else None


def is_message(frm=None, body=None, type_=None, bare_from=False):
    def pred(el):
        if el.tag != q("message"):
            return False
        if type_ is not None and (el.get("type") or "normal") != type_:
            return False
        if frm is not None:
            f = el.get("from") or ""
            if (bare(f) if bare_from else f) != frm:
                return False
        if body is not None and body_of(el) != body:
            return False
        return True
    return pred


def is_presence(frm=None, type_=None, bare_from=False):
    """type_=None matches available presence only; pass '*' for any."""
    def pred(el):
        if el.tag != q("presence"):
            return False
        t = el.get("type")
        if type_ == "*":
            pass
        elif type_ is None:
            if t is not None:
                return False
        elif t != type_:
            return False
        if frm is not None:
            f = el.get("from") or ""
            if (bare(f) if bare_from else f) != frm:
                return False
        return True
    return pred


def roster_items(el):
    query = el.find(q("query", NS_ROSTER))
    if query is None:
        return None
    return {i.get("jid"): i for i in query.findall(q("item", NS_ROSTER))}


def is_roster_push(jid=None, subscription=None):
    def pred(el):
        if el.tag != q("iq") or el.get("type") != "set":
            return False
        items = roster_items(el)
        if not items:
            return False
        if jid is not None and jid not in items:
            return False
        if subscription is not None and items[jid].get("subscription") != subscription:
            return False
        return True
    return pred


def any_stanza(el):
    return el.tag in (q("message"), q("presence"), q("iq"))


# ---------------------------------------------------------------------------
# What a test function receives
# ---------------------------------------------------------------------------

class Context:
    def __init__(self, server, module_config, accounts, keep=False, name="test"):
        self.server = server
        self.module_config = module_config or {}
        self.module_accounts = dict(accounts or {})
        self.keep = keep
        self.name = name
        self._clients = []
        self.extra_servers = []

    def password(self, jid, server=None):
        return (server or self.server).accounts[jid]

    async def client(self, jid, resource=None, *, password=None, direct_tls=False, mech=None,
                     presence=False, roster=False, server=None, timeout=10):
        """A signed-in slixmpp client. presence: False (none), True, or a priority."""
        server = server or self.server
        pw = password if password is not None else server.accounts[jid]
        full = jid + ("/" + resource if resource else "")
        c = XClient(server, full, pw, direct_tls=direct_tls, mech=mech,
                    label=full + (" [tls]" if direct_tls else ""))
        self._clients.append(c)
        await c.start(timeout)
        if roster:
            r = await c.iq("get", "<query xmlns='%s'/>" % NS_ROSTER)
            check(r.get("type") == "result", "%s: roster get failed" % c.label, r)
        if presence is not False:
            c.presence(priority=None if presence is True else presence)
        return c

    async def raw(self, direct_tls=False, domain="localhost", server=None, local_addr=None, label=None):
        c = RawClient(server or self.server, direct_tls=direct_tls, domain=domain,
                      label=label or ("raw-tls" if direct_tls else "raw"))
        self._clients.append(c)
        await c.connect(local_addr=local_addr)
        return c

    async def raw_session(self, jid, resource=None, *, password=None, direct_tls=False,
                          presence=False, server=None, mech="SCRAM-SHA-256", username=None):
        server = server or self.server
        local_part, domain = bare(jid).split("@", 1)
        c = await self.raw(direct_tls=direct_tls, domain=domain, server=server,
                           label="raw:%s/%s" % (jid, resource))
        await c.login(username or local_part, password if password is not None else server.accounts[jid],
                      resource, mech=mech, presence=presence)
        return c

    def new_server(self, config=None, accounts=None, start=True, nofile=None):
        """An extra vestnikd for this test (stopped and checked by the runner).
        nofile: its RLIMIT_NOFILE (see Server)."""
        cfg = merge_config({}, self.module_config, config)
        srv = Server("%s-extra%d" % (self.name, len(self.extra_servers) + 1), cfg,
                     accounts if accounts is not None else self.module_accounts, keep=self.keep,
                     nofile=nofile)
        self.extra_servers.append(srv)
        if start:
            srv.start()
        return srv

    async def aclose(self):
        for c in self._clients:
            try:
                if isinstance(c, XClient):
                    c.abort()
                else:
                    c.abort()
            except Exception:
                pass
        self._clients = []
        await asyncio.sleep(0.05)


def options(timeout=None, config=None, server=True):
    """Per-test options.

    timeout: seconds for the whole test (default 20).
    config:  overrides -> the test gets its own fresh vestnikd with the module
             CONFIG plus these overrides.
    server:  False -> no server is started for the test (ctx.server is None;
             use ctx.new_server()).
    """
    def deco(fn):
        if timeout is not None:
            fn.timeout = timeout
        if config is not None:
            fn.fresh_config = config
        fn.needs_server = server
        return fn
    return deco
