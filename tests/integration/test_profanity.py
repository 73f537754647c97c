"""A real terminal client: profanity (Debian's package), driven in tmux,
signs in over STARTTLS and chats with a raw client and with slixmpp."""
import asyncio
import os
import shutil
import subprocess
import tempfile

from harness import check, is_message, options

ACCOUNTS = {"prof@localhost": "pw-prof", "peer@localhost": "pw-peer"}


class Tmux:
    def __init__(self, home):
        self.session = "vn-prof-%d" % os.getpid()
        self.home = home

    def run(self, *args):
        return subprocess.run(["tmux"] + list(args), capture_output=True, text=True, timeout=10)

    def start(self):
        env = "HOME=%s TERM=xterm-256color" % self.home
        r = self.run("new-session", "-d", "-s", self.session, "-x", "220", "-y", "50",
                     "env %s profanity" % env)
        check(r.returncode == 0, "tmux could not start profanity: %s" % r.stderr)

    def keys(self, text):
        self.run("send-keys", "-t", self.session, "-l", text)
        self.run("send-keys", "-t", self.session, "Enter")

    def screen(self):
        return self.run("capture-pane", "-p", "-t", self.session).stdout

    async def wait_for(self, text, timeout=15):
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            s = self.screen()
            if text in s:
                return s
            await asyncio.sleep(0.2)
        raise AssertionError("profanity never showed %r; screen:\n%s" % (text, self.screen()))

    def stop(self):
        self.run("kill-session", "-t", self.session)


@options(timeout=60)
async def test_profanity_signs_in_and_chats(ctx):
    if not shutil.which("profanity") or not shutil.which("tmux"):
        raise AssertionError("profanity and tmux must be installed (make test installs them)")
    home = tempfile.mkdtemp(prefix="vn-prof-home-")
    t = Tmux(home)
    t.start()
    try:
        await t.wait_for("Profanity", 15)
        t.keys("/connect prof@localhost server 127.0.0.1 port %d tls force" % ctx.server.port)
        await t.wait_for("password", 15)
        t.keys(ACCOUNTS["prof@localhost"])
        # the generated certificate is self-signed: accept it for this run
        await t.wait_for("/tls allow", 15)
        t.keys("/tls allow")
        await t.wait_for("logged in successfully", 15)

        peer = await ctx.raw_session("peer@localhost", "raw", presence=True)
        # profanity -> server -> raw client
        t.keys("/msg peer@localhost привет из profanity")
        el = await peer.wait_for(is_message(body="привет из profanity"), timeout=10)
        check(el.get("from", "").startswith("prof@localhost/"), "from of profanity's message", el)
        # raw client -> server -> profanity (to the bare JID: routed by priority)
        peer.message("prof@localhost", "ответ for profanity")
        await t.wait_for("ответ for profanity", 15)
        # slixmpp -> server -> profanity
        s = await ctx.client("peer@localhost", "slix", presence=True)
        s.message("prof@localhost", "hello from slixmpp")
        await t.wait_for("hello from slixmpp", 15)
        t.keys("/quit")
    finally:
        t.stop()
        shutil.rmtree(home, ignore_errors=True)
