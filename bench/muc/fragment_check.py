#!/usr/bin/python3
"""A check of vestnik-bench's muc scenario itself, not of a server.

A minimal XEP-0045 service over plain TCP (SASL PLAIN, no TLS) that writes
everything it sends in small random pieces, so that stanzas reach the load
generator cut at every possible place (presences above all, which the
generator recognises without its XML parser). Optionally it drops or
duplicates one groupchat copy, and the generator must then report exactly
that. Standard library only.

    bench/muc/fragment_check.py build/bench/vestnik-bench

Runs three rooms (no faults, one copy dropped, one copy duplicated) and
prints "fragment check: OK" or what went wrong.
"""
import asyncio
import json
import random
import socket
import subprocess
import sys
import xml.parsers.expat
from xml.sax.saxutils import escape, quoteattr

DOMAIN = "localhost"
SERVICE = "conference." + DOMAIN


class Room:
    def __init__(self):
        self.occupants = {}  # nick -> connection
        self.fault = None    # ("drop" | "dup", after this many groupchat copies)
        self.copies = 0


class Conn:
    def __init__(self, server, reader, writer):
        self.server, self.reader, self.writer = server, reader, writer
        self.jid = None
        self.restart = False
        self.out = bytearray()
        self.wake = asyncio.Event()
        self.new_parser()

    def new_parser(self):
        p = xml.parsers.expat.ParserCreate()
        p.StartElementHandler = self.start
        p.EndElementHandler = self.end
        p.CharacterDataHandler = self.text
        self.parser, self.depth, self.stack = p, 0, []

    # ---- output, in random pieces
    def send(self, s):
        self.out += s.encode()
        self.wake.set()

    async def writer_loop(self):
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.out:
                n = random.randint(1, 90)
                self.writer.write(bytes(self.out[:n]))
                del self.out[:n]
                await self.writer.drain()
                if random.random() < 0.3:
                    await asyncio.sleep(0.0005)

    # ---- input
    def start(self, name, attrs):
        self.depth += 1
        if self.depth == 1:
            self.send("<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                      "xmlns:stream='http://etherx.jabber.org/streams' id='x' from='%s' "
                      "version='1.0'><stream:features>" % DOMAIN)
            if self.jid:
                self.send("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>")
            else:
                self.send("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                          "<mechanism>PLAIN</mechanism></mechanisms></stream:features>")
            return
        self.stack.append([name, attrs, "", []])

    def text(self, t):
        if self.stack:
            self.stack[-1][2] += t

    def end(self, name):
        self.depth -= 1
        if self.depth == 0:
            return
        el = self.stack.pop()
        if self.stack:
            self.stack[-1][3].append(el)
        else:
            self.stanza(el)

    def stanza(self, el):
        name, a, text, kids = el
        srv = self.server
        if name == "auth":
            import base64
            user = base64.b64decode(text).split(b"\0")[1].decode()
            self.jid = "%s@%s/bench" % (user, DOMAIN)
            self.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
            self.restart = True
        elif name == "iq" and kids and kids[0][0] == "bind":
            self.send("<iq type='result' id=%s><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                      "<jid>%s</jid></bind></iq>" % (quoteattr(a.get("id", "")), self.jid))
        elif name == "iq" and a.get("to") == SERVICE:
            self.send("<iq type='result' id=%s from='%s'><query "
                      "xmlns='http://jabber.org/protocol/disco#info'><identity category='conference' "
                      "type='text'/></query></iq>" % (quoteattr(a.get("id", "")), SERVICE))
        elif name == "iq" and a.get("type") == "set":
            self.send("<iq type='result' id=%s from=%s/>" % (quoteattr(a.get("id", "")),
                                                            quoteattr(a.get("to", ""))))
        elif name == "presence" and "/" in a.get("to", ""):
            room_jid, nick = a["to"].split("/", 1)
            room = srv.rooms.setdefault(room_jid, Room())
            created = not room.occupants
            for n, c in room.occupants.items():
                # the newcomer learns about everyone; everyone about the newcomer
                self.send("<presence from=%s to=%s><x xmlns='http://jabber.org/protocol/muc#user'>"
                          "<item affiliation='none' role='participant'/></x></presence>"
                          % (quoteattr(room_jid + "/" + n), quoteattr(self.jid)))
                c.send("<presence from=%s to=%s><x xmlns='http://jabber.org/protocol/muc#user'>"
                       "<item affiliation='none' role='participant'/></x></presence>"
                       % (quoteattr(a["to"]), quoteattr(c.jid)))
            room.occupants[nick] = self
            self.send("<presence from=%s to=%s><x xmlns='http://jabber.org/protocol/muc#user'>"
                      "<item affiliation='%s' role='%s'/><status code='110'/>%s</x></presence>"
                      % (quoteattr(a["to"]), quoteattr(self.jid),
                         "owner" if created else "none", "moderator" if created else "participant",
                         "<status code='201'/>" if created else ""))
            self.send("<message from=%s to=%s type='groupchat'><subject/></message>"
                      % (quoteattr(room_jid), quoteattr(self.jid)))
            if created:
                room.fault = srv.fault
        elif name == "message" and a.get("type") == "groupchat":
            room = srv.rooms[a["to"]]
            body = next((k[2] for k in kids if k[0] == "body"), "")
            sender = next(n for n, c in room.occupants.items() if c is self)
            for c in room.occupants.values():
                room.copies += 1
                times = 1
                if room.fault and room.copies == room.fault[1]:
                    times = 0 if room.fault[0] == "drop" else 2
                for _ in range(times):
                    c.send("<message from=%s to=%s type='groupchat'><body>%s</body></message>"
                           % (quoteattr(a["to"] + "/" + sender), quoteattr(c.jid), escape(body)))

    async def run(self):
        w = asyncio.ensure_future(self.writer_loop())
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                # the client says nothing after <auth/> until <success/>, so a
                # stream restart never falls inside one read
                self.restart = False
                self.parser.Parse(data)
                if self.restart:
                    self.new_parser()
        except (ConnectionError, xml.parsers.expat.ExpatError):
            pass
        finally:
            w.cancel()
            self.writer.close()


class Server:
    def __init__(self, fault):
        self.rooms, self.fault = {}, fault

    async def handle(self, reader, writer):
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await Conn(self, reader, writer).run()


async def serve_and_run(bench, fault, n):
    server = Server(fault)
    srv = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    proc = await asyncio.create_subprocess_exec(
        bench, "muc", "-p", str(port), "--tls", "none", "--mech", "PLAIN", "-n", str(n),
        "--rates", "200,0", "--duration", "1", "--warmup", "0.3", "--drain", "3",
        "--window", "20", "--json", "-", "--json-only", "-l", "mock",
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = await proc.communicate()
    srv.close()
    rows = [json.loads(l) for l in out.decode().splitlines() if l.startswith("{")]
    return proc.returncode, rows, err.decode()


def main():
    bench = sys.argv[1] if len(sys.argv) > 1 else "build/bench/vestnik-bench"
    random.seed(7)
    problems = []
    for fault, want in ((None, (0, 0)), (("drop", 500), (1, 0)), (("dup", 700), (0, 1))):
        rc, rows, err = asyncio.run(serve_and_run(bench, fault, 12))
        fill = [r for r in rows if r.get("phase") == "fill"]
        fan = [r for r in rows if r.get("phase") == "fanout"]
        lost = sum(r["lost"] for r in fan)
        dup = sum(r["dup"] for r in fan)
        what = fault[0] if fault else "no fault"
        print(f"{what}: exit {rc}, fill {fill[0]['status'] if fill else '?'}, "
              f"presences {fill[0]['presences'] if fill else '?'}, phases {len(fan)}, "
              f"lost {lost}, dup {dup}")
        if not fill or fill[0]["status"] != "ok" or fill[0]["presences"] != 144:
            problems.append(f"{what}: fill {fill}")
        if len(fan) != 2 or (lost, dup) != want or (rc == 0) != (want == (0, 0)):
            problems.append(f"{what}: expected lost/dup {want}, got {lost}/{dup}, exit {rc}: {err[-300:]}")
    print("fragment check: " + ("OK" if not problems else "FAILED: " + "; ".join(problems)))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
