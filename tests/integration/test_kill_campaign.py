"""Never lose an acknowledged message, over repeated crashes: the kill -9
campaign of kill_campaign.py, short (8 kills at random moments while a
sender with XEP-0198 writes to an offline and an online recipient). The
long run is tools/kill-campaign. VESTNIK_KILL_SEED=N repeats a run."""

import os

from harness import check, options
from kill_campaign import ACCOUNTS, CONFIG, Campaign  # noqa: F401 - the runner reads both

CYCLES = 8


@options(config={}, timeout=90)
async def test_kill9_campaign(ctx):
    seed = os.environ.get("VESTNIK_KILL_SEED")
    camp = Campaign(ctx.server, CYCLES, seed=int(seed) if seed else None)
    await camp.run()
    r = camp.counts()
    text = camp.report(r)
    bad = camp.failures(r)
    check(not bad, "kill -9 campaign failed (%s):\n%s" % (", ".join(bad), text))
    check(ctx.server.kills == CYCLES, "%d kills, want %d" % (ctx.server.kills, CYCLES))
    # The campaign must have exercised both paths, or it proves nothing.
    off, on = r["acknowledged to offline / online"]
    check(off >= 100 and on >= 100, "too little acknowledged traffic:\n" + text)
    check(r["found offline"] >= 100 and r["found live"] >= 1,
          "neither offline nor live deliveries were checked:\n" + text)
    print("# kill campaign (seed %d): %d kills, %d sent, %d acknowledged, %d lost, "
          "%d found live, %d offline, %d archive only, %d re-delivered after a crash"
          % (camp.seed, r["kills"], r["sent"], r["acknowledged"], r["lost"], r["found live"],
             r["found offline"], r["found in archive only"], r["re-delivered after a crash"]))
