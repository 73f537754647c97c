#!/usr/bin/python3
"""Independent check of vestnik-bench's delivery and loss counting, with slixmpp.

A ring of N users (user k sends to user k+1), each sending M numbered
messages in batches of 20 with at most 200 not yet received, exactly like
`vestnik-bench chat`, but written with a client library this project did not
write. Prints one JSON line: sent, delivered, lost, duplicated, msgs/s.

    /usr/bin/python3 bench/crosscheck.py --port 5222 --users 4 --messages 200
"""
import argparse
import asyncio
import json
import logging
import ssl
import sys
import time

import slixmpp

BATCH = 20
WINDOW = 200


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5222)
    ap.add_argument("--domain", default="localhost")
    ap.add_argument("--password", default="benchpass")
    ap.add_argument("--user-fmt", default="user%d")
    ap.add_argument("--users", type=int, default=4)
    ap.add_argument("--messages", type=int, default=200, help="per sender")
    ap.add_argument("--timeout", type=float, default=60)
    ap.add_argument("--label", default="server")
    a = ap.parse_args()
    logging.basicConfig(level=logging.ERROR)

    n, m = a.users, a.messages
    jids = ["%s@%s/xcheck" % (a.user_fmt % k, a.domain) for k in range(n)]
    sent = [0] * n          # by sender
    got = [set() for _ in range(n)]   # by receiver: sequence numbers from its sender
    dups = [0]
    stray = [0]
    online = [0]
    done = asyncio.Event()
    t = {}
    clients = []

    def pump(k):
        c = clients[k]
        partner = (k + 1) % n
        while sent[k] < m and sent[k] - len(got[partner]) <= WINDOW - BATCH:
            for _ in range(min(BATCH, m - sent[k])):
                c.send_message(mto=jids[partner], mbody="xc %d %d" % (k, sent[k]), mtype="chat")
                sent[k] += 1

    def make(k):
        # the same mechanism as vestnik-bench --mech SCRAM-SHA-256 (no channel binding)
        c = slixmpp.ClientXMPP(jids[k], a.password, sasl_mech="SCRAM-SHA-256")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        c.ssl_context = ctx

        async def on_start(_):
            c.send_presence()
            online[0] += 1
            if online[0] == n:
                t["start"] = time.monotonic()
                for j in range(n):
                    pump(j)

        def on_message(msg):
            if msg["type"] == "error":
                stray[0] += 1
                return
            parts = msg["body"].split()
            if len(parts) != 3 or parts[0] != "xc" or int(parts[1]) != (k - 1) % n:
                stray[0] += 1
                return
            seq = int(parts[2])
            if seq in got[k]:
                dups[0] += 1
            else:
                got[k].add(seq)
            t["last"] = time.monotonic()
            pump((k - 1) % n)
            if sum(len(s) for s in got) == n * m:
                done.set()

        c.add_event_handler("session_start", on_start)
        c.add_event_handler("message", on_message)
        c.add_event_handler("failed_auth", lambda _: done.set())
        return c

    for k in range(n):
        clients.append(make(k))
    loop = asyncio.get_event_loop()
    for c in clients:
        c.connect(address=(a.host, a.port), force_starttls=True, disable_starttls=False)

    async def wait():
        try:
            await asyncio.wait_for(done.wait(), a.timeout)
        except asyncio.TimeoutError:
            pass

    loop.run_until_complete(wait())
    delivered = sum(len(s) for s in got)
    total_sent = sum(sent)
    secs = (t.get("last", 0) - t["start"]) if "start" in t else 0
    for c in clients:
        c.disconnect()
    loop.run_until_complete(asyncio.sleep(0.5))
    for task in asyncio.all_tasks(loop):
        task.cancel()
    res = {
        "type": "crosscheck", "client": "slixmpp " + slixmpp.__version__, "server": a.label,
        "users": n, "messages_per_sender": m, "online": online[0], "sent": total_sent,
        "delivered": delivered, "lost": total_sent - delivered, "dup": dups[0],
        "stray": stray[0], "msgs_per_s": round(delivered / secs) if secs > 0 else 0,
    }
    print(json.dumps(res))
    ok = online[0] == n and total_sent == n * m and delivered == total_sent and not dups[0] \
        and not stray[0]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
