"""OMEMO end to end with two real clients: two profanity instances (Debian's
build has OMEMO, the eu.siacs.conversations.axolotl protocol), each in its own
tmux session with its own HOME and XDG directories, so that each has its own
identity keys, trust store and log.

alice and bob subscribe to each other, generate OMEMO keys, publish their
device lists and bundles through PEP, check each other's fingerprint (the one
the other client shows as its own) and trust it; alice sends bob a Cyrillic
message with a random token, bob's pane must show it decrypted and marked as
OMEMO, bob replies and alice must see the reply decrypted. A raw client signed
in as bob (and one as alice) asks the server for the other's device list and
bundle the way profanity does, so a failure says which PEP step is missing.
Then the server's storage: the archived stanzas of the conversation carry
<encrypted xmlns='eu.siacs.conversations.axolotl'/> from both devices, and the
plaintexts (and their tokens) are nowhere in data_dir (database, -wal, -shm)
nor in the server's log, checked while the server runs and after it stopped.

What profanity 0.13.1 needs from the server (learnt against Prosody 0.12):
* after /omemo gen it asks for its own device list, which does not exist
  yet. It takes an error reply for "empty list" (and then publishes its
  device id) only when the error carries the legacy code='404' or echoes the
  request's <pubsub><items/></pubsub>; Prosody's bare item-not-found leaves
  it waiting forever. The test therefore runs `/omemo clear_device_list`:
  profanity publishes an empty list, the server notifies the publisher's
  own resource (+notify in its caps), and that notification makes profanity
  publish the list with its id ("Could not find own OMEMO device ID. Going
  to publish own device ID: N").
* both device lists must exist before `/omemo start`: profanity does not
  retry after an item-not-found for the contact's list.
* it attaches <publish-options/> only when the server's own disco#info (the
  domain, not the account) lists http://jabber.org/protocol/pubsub#publish-options.

Run it alone with
    tests/integration/run.py test_omemo_profanity

Against another server with fresh accounts alice@localhost / pw-alice and
bob@localhost / pw-bob on 127.0.0.1 (such as a throwaway Prosody):
    VESTNIK_OMEMO_EXTERNAL=PORT [VESTNIK_OMEMO_DATA_DIR=DIR] [VESTNIK_OMEMO_SASL=SCRAM-SHA-1] \\
        tests/integration/run.py test_omemo_profanity
Then only the plaintext search of DIR replaces the archive checks.
"""
import asyncio
import base64
import os
import re
import secrets
import shlex
import shutil
import sqlite3
import subprocess
import tempfile
import types
import xml.etree.ElementTree as ET

from harness import TestFailure, check, options, q, tostr

ALICE, BOB = "alice@localhost", "bob@localhost"
CAROL = "carol@localhost"  # no contact of either: sees only what open access shows
ACCOUNTS = {ALICE: "pw-alice", BOB: "pw-bob", CAROL: "pw-carol"}

NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_OMEMO = "eu.siacs.conversations.axolotl"
NODE_DEVICES = NS_OMEMO + ".devicelist"
NODE_BUNDLE = NS_OMEMO + ".bundles:%d"

# profanity's "/omemo char": the mark in front of every OMEMO message line
# (its default "~" is shared with OTR and PGP)
MARK = "Ω"
SCALE = float(os.environ.get("VESTNIK_TIMEOUT_SCALE", "1"))
WAIT = 20 * SCALE
FINGERPRINT = r"[0-9a-f]{8}(?:-[0-9a-f]{8}){7}"
# what profanity says when it cannot encrypt for the peer / shows the
# sender's fallback <body/> instead of a decrypted message
NOT_SENT = ["cannot be decrypted for any recipient", "Can't find a OMEMO device id"]
NOT_DECRYPTED = ["but your client doesn't support OMEMO"]


class Profanity:
    """One profanity in its own tmux session (on a tmux server of our own)."""

    def __init__(self, tmux_socket, jid, root):
        self.jid = jid
        self.name = jid.split("@", 1)[0]
        self.sock = tmux_socket
        self.home = os.path.join(root, self.name)
        os.makedirs(self.home)
        self.data = os.path.join(self.home, ".local", "share")
        self.log_path = os.path.join(self.data, "profanity", "logs", "profanity.log")
        self.marks = 0
        self.mark_line = None

    def tmux(self, *args):
        return subprocess.run(["tmux", "-L", self.sock, "-f", "/dev/null", "-u"] + list(args),
                              capture_output=True, text=True, timeout=10)

    def start(self):
        env = {"HOME": self.home, "XDG_CONFIG_HOME": os.path.join(self.home, ".config"),
               "XDG_DATA_HOME": self.data, "TERM": "xterm-256color", "LANG": "C.UTF-8"}
        cmd = "env %s profanity -l DEBUG" % " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in env.items())
        r = self.tmux("new-session", "-d", "-s", self.name, "-x", "200", "-y", "60", cmd)
        check(r.returncode == 0, "tmux could not start profanity for %s: %s" % (self.name, r.stderr))

    def type(self, line):
        self.tmux("send-keys", "-t", self.name, "-l", line)
        self.tmux("send-keys", "-t", self.name, "Enter")

    def screen(self):
        return self.tmux("capture-pane", "-p", "-J", "-t", self.name).stdout

    def log_tail(self, n=40, width=400):
        """profanity's own log (-l DEBUG has every stanza): OMEMO, PEP and errors."""
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                lines = [ln.rstrip() for ln in f
                         if any(w in ln for w in ("OMEMO", "ERR", NS_OMEMO, NS_PUBSUB))]
        except OSError:
            return "(no log)"
        lines = [ln if len(ln) <= width else ln[:width] + " [...]" for ln in lines[-n:]]
        return "\n".join(lines) or "(nothing about OMEMO)"

    def report(self, n=30):
        lines = [ln.rstrip() for ln in self.screen().splitlines() if ln.strip()]
        return ("---- %s's profanity screen (last %d lines):\n%s\n"
                "---- %s's profanity log (OMEMO, PEP and errors):\n%s"
                % (self.name, n, "\n".join(lines[-n:]), self.name, self.log_tail()))

    def fail(self, message):
        raise TestFailure("%s\n%s" % (message, self.report()))

    async def mark(self):
        """Put a unique line into the console (profanity answers an unknown
        command with "Unknown command: /..."); wait(since_mark=True) then
        looks only below it. (/clear is no help: the next redraw of the
        console brings the old lines back.)"""
        self.marks += 1
        line = "/vn-mark-%d" % self.marks
        self.type(line)
        self.mark_line = "Unknown command: " + line
        await self.wait(re.escape(self.mark_line), "%s: profanity ignored input" % self.name)

    def screen_since_mark(self):
        screen = self.screen()
        at = screen.rfind(self.mark_line) if self.mark_line else -1
        return screen[at:] if at >= 0 else screen  # scrolled away: all of it is newer

    async def wait(self, pattern, failure, timeout=WAIT, fail_on=(), since_mark=False, why=""):
        """Poll the pane until pattern (a regex) shows; a line in fail_on or
        the timeout fails the test with `failure` (and `why`) and the pane."""
        rx = re.compile(pattern)
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            screen = self.screen_since_mark() if since_mark else self.screen()
            m = rx.search(screen)
            if m:
                return m
            for bad in fail_on:
                if bad in screen:
                    self.fail("%s: profanity says %r%s" % (failure, bad, why and "\n" + why))
            if loop.time() > end:
                self.fail("%s (%s's pane never showed /%s/ within %.0fs)%s"
                          % (failure, self.name, pattern, timeout, why and "\n" + why))
            await asyncio.sleep(0.2)

    # -- steps ------------------------------------------------------------
    async def sign_in(self, port, password):
        await self.wait(r"Type /help for help", "profanity did not start")
        self.type("/omemo char " + MARK)
        await self.wait(re.escape("OMEMO char set to %s." % MARK), "profanity refused the OMEMO char")
        self.type("/connect %s server 127.0.0.1 port %d tls force" % (self.jid, port))
        await self.wait(r"Enter password", "%s: no password prompt" % self.name)
        self.type(password)
        m = await self.wait(r"Use '/tls allow'|logged in successfully", "%s could not sign in" % self.name,
                            fail_on=["Login failed"])
        if "tls allow" in m.group(0):
            self.type("/tls allow")  # the test server's certificate is self-signed
            await self.wait(r"logged in successfully", "%s could not sign in" % self.name,
                            fail_on=["Login failed"])

    async def omemo_gen(self):
        self.type("/omemo gen")
        m = await self.wait(r"Your Device ID is (\d+)", "%s: /omemo gen failed" % self.name)
        return int(m.group(1))

    async def publish_device_list(self, device_id):
        await self.mark()
        self.type("/omemo clear_device_list")
        await self.wait(
            re.escape("Going to publish own device ID: %d" % device_id),
            "%s's profanity could not publish its OMEMO device list through PEP (XEP-0163)" % self.name,
            since_mark=True,
            fail_on=["Unknown error while publishing our own device list",
                     "Unable to publish own OMEMO device list"],
            why="(it publishes an empty list to %s, and once the server notifies that item to the "
                "publisher's own resource, which has %s+notify in its caps, it publishes its device id)"
                % (NODE_DEVICES, NODE_DEVICES))

    async def own_fingerprint(self):
        self.type("/omemo fingerprint")  # in the console window: our own
        m = await self.wait(r"Your OMEMO fingerprint: (%s)" % FINGERPRINT,
                            "%s's profanity did not show its fingerprint" % self.name)
        return m.group(1)

    async def trust(self, peer, fingerprint, failure):
        """Trust peer's device once profanity has its bundle: repeats
        /omemo trust until the chat window shows the fingerprint as trusted
        (before the bundle arrives profanity says "Cannot trust unknown
        device" in the console)."""
        rx = re.compile(re.escape("%s's OMEMO fingerprint: %s (trusted)" % (peer, fingerprint)))
        loop = asyncio.get_running_loop()
        end = loop.time() + WAIT
        while loop.time() < end:
            self.type("/omemo trust %s %s" % (peer, fingerprint))
            for _ in range(8):
                await asyncio.sleep(0.25)
                if rx.search(self.screen()):
                    return
        self.fail(failure)

    def stop(self):
        self.type("/quit")


async def befriend(a, b):
    """Mutual presence subscription, the way a user does it in profanity."""
    a.type("/roster add " + b.jid)
    a.type("/sub request " + b.jid)
    await b.wait(re.escape("Received authorization request from " + a.jid),
                 "%s never got %s's subscription request" % (b.name, a.name))
    b.type("/sub allow " + a.jid)
    b.type("/sub request " + a.jid)
    await a.wait(re.escape("Received authorization request from " + b.jid),
                 "%s never got %s's subscription request" % (a.name, b.name))
    a.type("/sub allow " + b.jid)
    # each side's <presence type='subscribed'/> (not the contact's presence
    # line "++ jid": vestnikd sends that before the approval, and profanity
    # then ignores it)
    await a.wait(re.escape("Subscription received from " + b.jid),
                 "%s never got %s's subscription approval" % (a.name, b.name))
    await b.wait(re.escape("Subscription received from " + a.jid),
                 "%s never got %s's subscription approval" % (b.name, a.name))


# -- the server side, seen by a raw client ----------------------------------

async def pep_items(client, owner, node, pred, failure):
    """Fetch owner's PEP node like profanity does (no max_items) until pred
    accepts the <items/> element; returns it."""
    loop = asyncio.get_running_loop()
    end = loop.time() + WAIT
    while True:
        iq = await client.iq("get", "<pubsub xmlns='%s'><items node='%s'/></pubsub>" % (NS_PUBSUB, node),
                             to=owner, timeout=5 * SCALE)
        items = iq.find("%s/%s" % (q("pubsub", NS_PUBSUB), q("items", NS_PUBSUB)))
        if iq.get("type") == "result" and items is not None and pred(items):
            return items
        if loop.time() > end:
            raise TestFailure("%s: asked for %s's PEP node %s as %s, the server answered:\n    %s"
                              % (failure, owner, node, client.jid, tostr(iq)))
        await asyncio.sleep(0.3)


def listed_devices(items):
    return {int(d.get("id")) for d in items.iter(q("device", NS_OMEMO)) if (d.get("id") or "").isdigit()}


def bundle_fingerprint(items):
    """profanity's fingerprint of the identity key in a bundle: hex of the
    key without its one-byte type prefix, in groups of eight."""
    key = items.find(".//" + q("identityKey", NS_OMEMO))
    if key is None or not key.text:
        return None
    raw = base64.b64decode(key.text)[1:].hex()
    return "-".join(raw[i:i + 8] for i in range(0, len(raw), 8))


async def check_published(viewer, owner, device_id, fingerprint):
    """viewer (a raw session of the contact) sees owner's device list with
    device_id and its bundle with the identity key owner's client showed."""
    who, whose = viewer.jid.split("@")[0], owner.split("@")[0]
    await pep_items(viewer, owner, NODE_DEVICES, lambda it: device_id in listed_devices(it),
                    "%s never got %s's OMEMO device list (with device %d)" % (who, whose, device_id))
    items = await pep_items(viewer, owner, NODE_BUNDLE % device_id,
                            lambda it: bundle_fingerprint(it) is not None,
                            "%s never got %s's OMEMO bundle for device %d" % (who, whose, device_id))
    got = bundle_fingerprint(items)
    check(got == fingerprint, "%s's bundle as %s gets it has identity key %s, %s's profanity shows %s"
          % (whose, who, got, whose, fingerprint), items)


class Target:
    """vestnikd from the harness, or an external server (VESTNIK_OMEMO_EXTERNAL)."""

    def __init__(self, ctx):
        self.ctx = ctx
        ext = os.environ.get("VESTNIK_OMEMO_EXTERNAL")
        if ext:
            self.server = None
            self.port = int(ext.rsplit(":", 1)[-1])
            self.data_dir = os.environ.get("VESTNIK_OMEMO_DATA_DIR")
            self.log_path = None
            self.mech = os.environ.get("VESTNIK_OMEMO_SASL", "SCRAM-SHA-1")
            self.raw_target = types.SimpleNamespace(port=self.port, tls_port=self.port,
                                                    accounts=dict(ACCOUNTS))
        else:
            self.server = ctx.new_server()
            self.port = self.server.port
            self.data_dir = self.server.data_dir
            self.log_path = self.server.stderr_path
            self.mech = "SCRAM-SHA-256"
            self.raw_target = self.server

    async def raw_session(self, jid):
        # no presence: an IQ-only resource that gets neither messages nor PEP notifications
        return await self.ctx.raw_session(jid, "pep-probe", server=self.raw_target, mech=self.mech)

    def files(self):
        out = []
        for d in [self.data_dir] if self.data_dir else []:
            for base, _, names in os.walk(d):
                out += [os.path.join(base, n) for n in names]
        if self.log_path:
            out.append(self.log_path)
        return out

    def assert_plaintext_absent(self, secrets_, when):
        needles = [s.encode("utf-8") for s in secrets_]
        seen = []
        for path in self.files():
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                continue  # e.g. the -wal file went away at shutdown
            seen.append(os.path.basename(path))
            for n in needles:
                check(n not in data, "%s: the plaintext %r is in the server's file %s" %
                      (when, n.decode("utf-8"), path))
        return seen


def archived_omemo(db_path, owner):
    """(sender device id, stanza) of owner's archived messages with an OMEMO payload."""
    db = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True)
    try:
        rows = db.execute("SELECT stanza FROM archive WHERE owner = ? ORDER BY seq", (owner,)).fetchall()
    finally:
        db.close()
    out = []
    for (text,) in rows:
        try:
            el = ET.fromstring(text)
        except ET.ParseError as e:
            raise TestFailure("%s's archive holds a stanza that is not well-formed (%s): %r"
                              % (owner, e, text))
        enc = el.find(".//" + q("encrypted", NS_OMEMO))
        if enc is None:
            continue
        header = enc.find(q("header", NS_OMEMO))
        check(header is not None and enc.find(q("payload", NS_OMEMO)) is not None,
              "archived OMEMO message without header or payload", el)
        out.append((int(header.get("sid")), text))
    return out, len(rows)


@options(server=False, timeout=240)
async def test_omemo_conversation_between_two_profanity_clients(ctx):
    for tool in ("profanity", "tmux"):
        check(shutil.which(tool), "%s must be installed (make test installs it)" % tool)
    target = Target(ctx)
    t1, t2 = secrets.token_hex(5), secrets.token_hex(5)
    to_bob = "Тайное послание Бобу, пароль %s" % t1
    to_alice = "Ответ Алисе: всё получил, ключ %s" % t2

    root = tempfile.mkdtemp(prefix="vn-omemo-")
    sock = "vn-omemo-%d" % os.getpid()
    alice, bob = Profanity(sock, ALICE, root), Profanity(sock, BOB, root)
    ok = False
    try:
        alice.start()
        bob.start()
        await asyncio.gather(alice.sign_in(target.port, ACCOUNTS[ALICE]),
                             bob.sign_in(target.port, ACCOUNTS[BOB]))
        await befriend(alice, bob)

        # keys, device lists and bundles through PEP
        dev_a = await alice.omemo_gen()
        dev_b = await bob.omemo_gen()
        await alice.publish_device_list(dev_a)
        await bob.publish_device_list(dev_b)
        fp_a = await alice.own_fingerprint()
        fp_b = await bob.own_fingerprint()
        probe_b = await target.raw_session(BOB)
        probe_a = await target.raw_session(ALICE)
        await check_published(probe_b, ALICE, dev_a, fp_a)
        await check_published(probe_a, BOB, dev_b, fp_b)
        if target.server:
            # vestnikd lists pubsub#publish-options on its domain, so profanity
            # asked for access_model=open: a stranger can start a session too.
            probe_c = await target.raw_session(CAROL)
            await check_published(probe_c, ALICE, dev_a, fp_a)
            await check_published(probe_c, BOB, dev_b, fp_b)

        # alice -> bob, encrypted for bob's device after checking his fingerprint
        alice.type("/omemo start " + BOB)
        await alice.trust(BOB, fp_b, "alice never got bob's OMEMO device list and bundle: "
                          "her profanity does not know bob's fingerprint %s" % fp_b)
        await alice.wait(r"(?m)^ *%s .*\[OMEMO\]" % re.escape(BOB),
                         "alice's chat window with bob is not in OMEMO mode")
        alice.type(to_bob)
        await alice.wait(re.escape("%s me: %s" % (MARK, to_bob)),
                         "alice's message was not sent OMEMO-encrypted", fail_on=NOT_SENT)
        bob.type("/omemo start " + ALICE)  # opens (focuses) bob's chat window with alice
        await bob.wait(r"%s [^\n]*%s[^\n]*: %s" % (MARK, re.escape(ALICE), re.escape(to_bob)),
                       "bob's profanity did not show alice's message decrypted as OMEMO",
                       fail_on=NOT_DECRYPTED)

        # bob -> alice
        await bob.trust(ALICE, fp_a, "bob could not trust alice's device: his profanity does not "
                        "know her fingerprint %s" % fp_a)
        bob.type(to_alice)
        await bob.wait(re.escape("%s me: %s" % (MARK, to_alice)),
                       "bob's reply was not sent OMEMO-encrypted", fail_on=NOT_SENT)
        await alice.wait(r"%s [^\n]*%s[^\n]*: %s" % (MARK, re.escape(BOB), re.escape(to_alice)),
                         "alice's profanity did not show bob's reply decrypted as OMEMO",
                         fail_on=NOT_DECRYPTED)
        alice.stop()
        bob.stop()
        ok = True
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True, timeout=10)
        if ok or not ctx.keep:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("kept the profanity homes (logs, keys): %s" % root)

    # the server's storage: ciphertext only
    plaintexts = [to_bob, to_alice, t1, t2]
    seen = target.assert_plaintext_absent(plaintexts, "while the server runs")
    if target.server is None:  # external server: no archive schema to look at
        check(seen or not target.data_dir, "nothing to read in %s" % target.data_dir)
        return
    problems = target.server.stop()
    check(not problems, "vestnikd stop: %s" % problems)
    seen = target.assert_plaintext_absent(plaintexts, "after the server stopped")
    db_path = os.path.join(target.data_dir, "vestnik.db")
    check("vestnik.db" in seen, "no database in %s: %s" % (target.data_dir, seen))
    for owner in (ALICE, BOB):
        enc, total = archived_omemo(db_path, owner)
        for _, text in enc:
            check(not any(p in text for p in plaintexts),
                  "%s's archive holds a plaintext: %s" % (owner, text))
        senders = sorted({sid for sid, _ in enc})
        check(senders == sorted({dev_a, dev_b}),
              "%s's archive should hold OMEMO messages from devices %s, has them from %s (%d rows, %d with "
              "<encrypted xmlns='%s'>)" % (owner, sorted({dev_a, dev_b}), senders, total, len(enc), NS_OMEMO))
