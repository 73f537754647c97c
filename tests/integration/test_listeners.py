"""Listeners come from the configuration as a list: every address of a
listening key is served, a second one included."""

import asyncio

from harness import check, free_port

ACCOUNTS = {"lis@localhost": "pw-lis"}

HEADER = (b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
          b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")


async def _features(host, port):
    r, w = await asyncio.wait_for(asyncio.open_connection(host, port), 5)
    w.write(HEADER)
    data = b""
    while b"</stream:features>" not in data:
        chunk = await asyncio.wait_for(r.read(4096), 5)
        check(chunk, "%s:%d closed before sending features" % (host, port))
        data += chunk
    w.close()
    return data


async def test_every_listed_address_is_served(ctx):
    p1, p2 = free_port(), free_port()
    srv = ctx.new_server({"c2s": {"listen": "127.0.0.1:%d, 127.0.0.2:%d" % (p1, p2)}}, start=False)
    srv.port = p1
    srv.start()
    for host, port in (("127.0.0.1", p1), ("127.0.0.2", p2)):
        data = await _features(host, port)
        check(b"<starttls" in data, "%s:%d offered no STARTTLS" % (host, port))
    # and a client signs in through the second one
    c = await ctx.raw_session("lis@localhost", "second", server=srv)
    await c.ping_server()
    text = srv.stderr_text(0)
    check("listening on 127.0.0.2:%d (c2s STARTTLS)" % p2 in text, "second listener not logged")
