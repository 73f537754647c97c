#!/usr/bin/python3
"""What XEP-0352 Client State Indication saves a phone: bytes received by
one client whose 50 contacts change presence 20 times each, with the client
active and with it inactive (then active again at the end, so everything
held back is counted too).

Drives a real vestnikd over loopback with raw XMPP sockets (the integration
test harness: its own TLS + SCRAM client, no third-party XMPP code), and
counts the XML bytes the observer reads from its socket (after TLS
decryption). Run from the repository root:

    bench/csi/measure.py [--contacts 50] [--changes 20] [--vestnikd build/vestnikd]
"""
import argparse
import asyncio
import os
import re
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

NS_CSI = "urn:xmpp:csi:0"
NS_PING = "urn:xmpp:ping"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--contacts", type=int, default=50)
    ap.add_argument("--changes", type=int, default=20, help="presence changes per contact")
    ap.add_argument("--vestnikd", default=os.environ.get("VESTNIKD", "build/vestnikd"))
    ap.add_argument("--vestnikctl", default=os.environ.get("VESTNIKCTL", "build/vestnikctl"))
    ap.add_argument("--keep", action="store_true", help="keep the server's data directory")
    return ap.parse_args()


ARGS = parse_args()
os.environ["VESTNIKD"] = ARGS.vestnikd
os.environ["VESTNIKCTL"] = ARGS.vestnikctl
import harness  # noqa: E402  (reads VESTNIKD/VESTNIKCTL at import)
from harness import RawClient, Server, bare, is_presence, xattr  # noqa: E402


async def login(server, jid, resource):
    local, domain = jid.split("@")
    c = RawClient(server, domain=domain, label=jid)
    await c.connect()
    await c.login(local, server.accounts[jid], resource, presence=True)
    return c


async def ping(c, pid):
    c.send("<iq type='get' id='%s' to='localhost'><ping xmlns='%s'/></iq>" % (pid, NS_PING))
    await c.wait_for(lambda e: e.get("id") == pid, timeout=30, what="pong %s" % pid)


async def befriend(obs, contact):
    obs.send("<presence to=%s type='subscribe'/>" % xattr(bare(contact.jid)))
    await contact.wait_for(is_presence(type_="subscribe"), timeout=30, what="subscribe")
    contact.send("<presence to=%s type='subscribed'/>" % xattr(bare(obs.jid)))


async def settle(obs, contacts, tag):
    """Every contact's output processed, then everything the observer was
    sent read: returns the observer's byte count just before its pong."""
    await asyncio.gather(*(ping(c, "%s-c%d" % (tag, i)) for i, c in enumerate(contacts)))
    pid = "%s-obs" % tag
    await ping(obs, pid)
    rx = bytes(obs.rx)
    at = rx.rfind(b"<iq", 0, rx.rfind(pid.encode()))
    return at, rx


async def run_phase(obs, contacts, changes, inactive, tag):
    start, _ = await settle(obs, contacts, tag + "-pre")
    if inactive:
        obs.send("<inactive xmlns='%s'/>" % NS_CSI)
    t0 = time.monotonic()
    for n in range(changes):
        for i, c in enumerate(contacts):
            show = ("away", "xa", "dnd", "chat")[n % 4]
            c.send("<presence><show>%s</show><status>%s update %d of contact %d</status>"
                   "</presence>" % (show, "round", n, i))
        await asyncio.sleep(0.01)
    if inactive:
        await asyncio.gather(*(ping(c, "%s-mid%d" % (tag, i)) for i, c in enumerate(contacts)))
        obs.send("<active xmlns='%s'/>" % NS_CSI)
    end, rx = await settle(obs, contacts, tag + "-post")
    seconds = time.monotonic() - t0
    chunk = rx[start:end]
    # count the stanzas in the measured window (whole pongs are outside it)
    presences = len(re.findall(rb"<presence[ >/]", chunk))
    pongs = len(re.findall(rb"<iq[ >/]", chunk))
    return {"bytes": end - start, "presences": presences, "other_iq": pongs, "seconds": seconds}


async def main():
    accounts = {"observer@localhost": "pw-observer"}
    contacts_jids = ["contact%02d@localhost" % i for i in range(ARGS.contacts)]
    accounts.update({j: "pw-" + j.split("@")[0] for j in contacts_jids})
    server = Server("csi-bench", {"server": {"log_level": "debug"}}, accounts, keep=ARGS.keep)
    print("starting %s with %d accounts ..." % (ARGS.vestnikd, len(accounts)), flush=True)
    server.start()
    try:
        obs = await login(server, "observer@localhost", "phone")
        contacts = list(await asyncio.gather(*(login(server, j, "pc") for j in contacts_jids)))
        await asyncio.gather(*(befriend(obs, c) for c in contacts))
        # settle the subscription traffic before measuring
        await asyncio.sleep(0.5)
        await settle(obs, contacts, "setup")
        total = ARGS.contacts * ARGS.changes
        print("%d contacts x %d presence changes = %d presence updates per phase\n"
              % (ARGS.contacts, ARGS.changes, total), flush=True)
        active = await run_phase(obs, contacts, ARGS.changes, False, "active")
        inactive = await run_phase(obs, contacts, ARGS.changes, True, "inactive")
        log = open(server.stderr_path, encoding="utf-8", errors="replace").read()
    finally:
        problems = server.stop()
        if problems:
            print("server problems: %s" % "; ".join(problems), file=sys.stderr)
        if not ARGS.keep:
            import shutil
            shutil.rmtree(server.workdir, ignore_errors=True)

    print("| observer | bytes received | presence stanzas |")
    print("|---|---:|---:|")
    print("| active   | %d | %d |" % (active["bytes"], active["presences"]))
    print("| inactive (then active) | %d | %d |" % (inactive["bytes"], inactive["presences"]))
    saved = active["bytes"] - inactive["bytes"]
    pct = 100.0 * saved / active["bytes"] if active["bytes"] else 0.0
    print("\nsaved by CSI: %d bytes (%.1f%%), %d of %d presence stanzas never sent"
          % (saved, pct, active["presences"] - inactive["presences"], active["presences"]))
    m = re.findall(r"csi: .*server total: (\d+) bytes saved \((\d+) stanzas\), (\d+) bytes delayed"
                   r" \((\d+) stanzas\)", log)
    if m:
        s, sn, d, dn = m[-1]
        print("server counters (debug log): %s bytes (%s stanzas) saved, %s bytes (%s stanzas) delayed"
              % (s, sn, d, dn))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
