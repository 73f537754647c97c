"""TLS versions and cipher suites (issue 18, defect 6).

By default vestnikd offers forward-secret AEAD suites only: TLS 1.3, and on
TLS 1.2 ECDHE with AES-GCM or ChaCha20-Poly1305. Never CBC suites (LUCKY13),
static-RSA or finite-field DHE key exchange, TLS 1.0 or 1.1; its own order
wins. [tls] ciphers, ciphersuites and min_version change that. The client
is Python's ssl (OpenSSL), on the direct TLS port (XEP-0368) and after
STARTTLS, with the generated EC certificate and with an RSA one.
"""

import asyncio
import os
import socket
import ssl
import subprocess
import warnings

from harness import NS_TLS, STREAM_HEADER, VESTNIKD, TestFailure, check, options

ACCOUNTS = {"tls@localhost": "pw-tls"}

TLS13_SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}


def _ctx(ciphers=None, version=None, seclevel0=False):
    """A client context that offers exactly `ciphers` (TLS <= 1.2 names) on
    exactly `version`."""
    with warnings.catch_warnings():  # TLSv1/TLSv1_1 are deprecated in ssl
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if version is not None:
            ctx.minimum_version = version
            ctx.maximum_version = version
    if ciphers or seclevel0:
        # SECLEVEL 0: the client itself must be willing, so that a refusal
        # comes from the server.
        ctx.set_ciphers((ciphers or "ALL") + (":@SECLEVEL=0" if seclevel0 else ""))
    return ctx


def _read_until(sock, marker):
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed before %r: %r" % (marker, data[-300:]))
        data += chunk
    return data


def _handshake(port, ctx, starttls):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        if starttls:
            raw.sendall(("<?xml version='1.0'?>" +
                         STREAM_HEADER.format(to=" to='localhost'", version="1.0")).encode())
            _read_until(raw, b"</stream:features>")
            raw.sendall(("<starttls xmlns='%s'/>" % NS_TLS).encode())
            _read_until(raw, b"<proceed")
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return s.version(), s.cipher()[0]


async def _connect(srv, ctx, starttls=False):
    port = srv.port if starttls else srv.tls_port
    return await asyncio.to_thread(_handshake, port, ctx, starttls)


async def _accepted(srv, ctx, what, starttls=False):
    try:
        return await _connect(srv, ctx, starttls)
    except (ssl.SSLError, OSError) as e:
        raise TestFailure("%s: handshake failed: %s" % (what, e))


async def _refused(srv, ctx, what, starttls=False):
    try:
        version, cipher = await _connect(srv, ctx, starttls)
    except ssl.SSLError as e:
        # A refusal by the server (an alert), not a client that could not
        # offer anything.
        check("NO_PROTOCOLS_AVAILABLE" not in str(e) and "NO_CIPHERS_AVAILABLE" not in str(e),
              "%s: the client offered nothing (%s)" % (what, e))
        return str(e)
    except OSError as e:
        return str(e)
    raise TestFailure("%s: the server accepted %s with %s" % (what, version, cipher))


CBC_ECDSA = ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES128-SHA256",
             "ECDHE-ECDSA-AES256-SHA384"]
AEAD_ECDSA = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
              "ECDHE-ECDSA-CHACHA20-POLY1305"]


async def test_tls13_accepted(ctx):
    for starttls in (False, True):
        version, cipher = await _accepted(ctx.server, _ctx(), "TLS 1.3", starttls)
        check(version == "TLSv1.3", "default client negotiated %s" % version)
        check(cipher in TLS13_SUITES, "TLS 1.3 suite %s" % cipher)


async def test_tls12_ecdhe_aead_accepted(ctx):
    for name in AEAD_ECDSA:
        version, cipher = await _accepted(ctx.server, _ctx(name, ssl.TLSVersion.TLSv1_2), name)
        check((version, cipher) == ("TLSv1.2", name), "%s: got %s %s" % (name, version, cipher))
    await _accepted(ctx.server, _ctx(AEAD_ECDSA[0], ssl.TLSVersion.TLSv1_2), "STARTTLS", True)


async def test_tls12_cbc_refused(ctx):
    for name in CBC_ECDSA:
        err = await _refused(ctx.server, _ctx(name, ssl.TLSVersion.TLSv1_2), name)
        check("HANDSHAKE_FAILURE" in err, "%s: refused without a handshake_failure alert: %s" % (name, err))
    await _refused(ctx.server, _ctx(":".join(CBC_ECDSA), ssl.TLSVersion.TLSv1_2), "CBC after STARTTLS",
                   starttls=True)


async def test_server_order_wins(ctx):
    # The client prefers CBC, then ChaCha20: it gets the server's first choice.
    offer = "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"
    version, cipher = await _accepted(ctx.server, _ctx(offer, ssl.TLSVersion.TLSv1_2), "mixed offer")
    check(cipher == "ECDHE-ECDSA-AES128-GCM-SHA256", "negotiated %s for %s" % (cipher, offer))
    # Everything the client knows, even NULL and export-grade: still AEAD.
    version, cipher = await _accepted(ctx.server, _ctx(None, ssl.TLSVersion.TLSv1_2, seclevel0=True),
                                      "ALL offered")
    check(cipher in AEAD_ECDSA, "negotiated %s when offered everything" % cipher)


async def test_tls10_and_tls11_refused(ctx):
    for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        err = await _refused(ctx.server, _ctx(None, v, seclevel0=True), v.name)
        check("PROTOCOL_VERSION" in err, "%s refused without a protocol_version alert: %s" % (v.name, err))


async def test_sign_in_still_works(ctx):
    r = await ctx.raw_session("tls@localhost", "tls", direct_tls=True)
    await r.ping_server()
    r = await ctx.raw_session("tls@localhost", "starttls")
    await r.ping_server()


def _rsa_cert(workdir):
    cert, key = os.path.join(workdir, "rsa-cert.pem"), os.path.join(workdir, "rsa-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                    "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                    "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    return cert, key


@options(server=False, timeout=60)
async def test_rsa_certificate(ctx):
    srv = ctx.new_server(start=False)
    cert, key = _rsa_cert(srv.workdir)
    srv.cfg["tls"].update(cert=cert, key=key)
    srv.write_config()
    srv.start()
    # Static RSA key exchange (no forward secrecy; Bleichenbacher/ROBOT),
    # CBC, and finite-field DHE (RFC 10015) are not offered.
    for name in ("AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA", "AES256-SHA256",
                 "ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA384", "DHE-RSA-AES128-GCM-SHA256",
                 "DHE-RSA-CHACHA20-POLY1305"):
        err = await _refused(srv, _ctx(name, ssl.TLSVersion.TLSv1_2), "RSA certificate, " + name)
        check("HANDSHAKE_FAILURE" in err, "%s: refused without a handshake_failure alert: %s" % (name, err))
    for name in ("ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                 "ECDHE-RSA-CHACHA20-POLY1305"):
        version, cipher = await _accepted(srv, _ctx(name, ssl.TLSVersion.TLSv1_2), name)
        check(cipher == name, "%s: negotiated %s" % (name, cipher))
    version, cipher = await _accepted(srv, _ctx(), "RSA certificate, TLS 1.3")
    check(version == "TLSv1.3", "negotiated %s" % version)
    r = await ctx.raw_session("tls@localhost", "rsa", direct_tls=True, server=srv)
    await r.ping_server()


@options(config={"tls": {"min_version": "1.3"}})
async def test_min_version_13(ctx):
    for name in AEAD_ECDSA:
        await _refused(ctx.server, _ctx(name, ssl.TLSVersion.TLSv1_2), "TLS 1.2 with min_version 1.3")
    version, _ = await _accepted(ctx.server, _ctx(), "TLS 1.3")
    check(version == "TLSv1.3", "negotiated %s" % version)


@options(config={"tls": {"ciphers": "ECDHE-ECDSA-CHACHA20-POLY1305",
                         "ciphersuites": "TLS_CHACHA20_POLY1305_SHA256"}})
async def test_configured_suites(ctx):
    await _refused(ctx.server, _ctx("ECDHE-ECDSA-AES128-GCM-SHA256", ssl.TLSVersion.TLSv1_2),
                   "AES-GCM when only ChaCha20 is configured")
    _, cipher = await _accepted(ctx.server, _ctx("ECDHE-ECDSA-CHACHA20-POLY1305", ssl.TLSVersion.TLSv1_2),
                                "configured TLS 1.2 suite")
    # Python's client offers all three TLS 1.3 suites: only the configured one can be chosen.
    version, cipher = await _accepted(ctx.server, _ctx(), "configured TLS 1.3 suite")
    check((version, cipher) == ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"), "negotiated %s %s" % (version, cipher))


@options(server=False)
async def test_invalid_settings_refused_at_start(ctx):
    for tls, expect in (({"ciphers": "NO-SUCH-CIPHER:ALSO-NOT"}, "[tls] ciphers"),
                        ({"ciphersuites": "TLS_NO_SUCH_SUITE"}, "[tls] ciphersuites"),
                        ({"min_version": "1.1"}, "[tls] min_version")):
        srv = ctx.new_server(config={"tls": tls}, start=False)
        p = await asyncio.to_thread(subprocess.run, [VESTNIKD, "--config", srv.config_path],
                                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, timeout=20, cwd=srv.workdir)
        out = p.stdout.decode("utf-8", "replace")
        check(p.returncode != 0, "vestnikd started with %s" % tls)
        check(expect in out and "unknown key" not in out,
              "no complaint about the value of %s in: %s" % (expect, out[-500:]))
