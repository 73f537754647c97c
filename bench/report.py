#!/usr/bin/python3
"""Turn the JSON lines of a bench/compare run into results/latest.md and a PNG
chart (gnuplot). Standard library only."""
import argparse
import json
import os
import subprocess
import tempfile

ORDER = ["vestnikd", "prosody", "ejabberd"]


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try:
                    rows.append(json.loads(line))
                except ValueError:
                    pass
    return rows


def servers_in(rows):
    seen = [r["server"] for r in rows if r.get("type") == "server"]
    return sorted(set(seen), key=lambda s: ORDER.index(s) if s in ORDER else 99)


def table(headers, lines):
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---:" if i else "---"
                                                           for i in range(len(headers))) + "|"]
    for ln in lines:
        out.append("| " + " | ".join(str(x) for x in ln) + " |")
    return "\n".join(out)


def fmt(v, d=0):
    if v is None or v == "":
        return "–"
    if isinstance(v, str):
        return v
    return f"{v:,.{d}f}"


def ratio(a, b):
    if not a or not b:
        return "–"
    return f"{a / b:.1f}×"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jsonl", required=True)
    ap.add_argument("--commands", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--png", required=True)
    ap.add_argument("--mode", default="default")
    ap.add_argument("--machine", default="")
    ap.add_argument("--chat-main", type=int, default=0)
    ap.add_argument("--server-cpu", default="0")
    ap.add_argument("--gen-cpu", default="1")
    ap.add_argument("--scenarios", default="idle chat login crosscheck muc")
    ap.add_argument("--muc-fill-timeout", default="")
    ap.add_argument("--muc-large-roles", default="moderator")
    a = ap.parse_args()
    scen = a.scenarios.split()
    rows = load(a.jsonl)
    srv = servers_in(rows)
    info = {r["server"]: r for r in rows if r.get("type") == "server"}
    skipped = [r["server"] for r in rows if r.get("type") == "skipped"]
    meta = {}
    for r in rows:
        if r.get("type") == "meta" and r["server"] not in meta:
            meta[r["server"]] = r

    def rows_of(scenario, server, **kw):
        out = []
        for r in rows:
            if r.get("type") or r.get("scenario") != scenario or r.get("server") != server:
                continue
            if all(r.get(k) == v for k, v in kw.items()):
                out.append(r)
        return out

    flat = {s: [r for r in rows_of("chat", s, rate_per_sender="max")] for s in srv}
    rate = {s: [r for r in rows_of("chat", s) if r["rate_per_sender"] != "max"] for s in srv}
    idle = {s: rows_of("idle", s) for s in srv}
    login = {s: rows_of("login", s) for s in srv}
    xc = {r["server"]: r for r in rows if r.get("type") == "crosscheck"}
    muc = muc_rows(rows, srv)

    # the same N for every server: --chat-main if all have it, else the
    # largest N that all have
    common = None
    for s in srv:
        ns = {r["users"] for r in flat[s] if r["users"] > 4}
        common = ns if common is None else common & ns
    common = common or set()
    want_n = a.chat_main if a.chat_main in common else (max(common) if common else 0)

    def headline_chat(s):
        rs = [r for r in flat[s] if r["users"] > 4]
        if not rs or not want_n:
            return None
        want = want_n
        med = [r for r in rs if r["users"] == want and r["run"] == "median"]
        if med:
            return med[0]
        one = [r for r in rs if r["users"] == want]
        return one[-1] if one else rs[-1]

    def headline_rate(s):
        rs = [r for r in rate[s] if r["users"] > 4 + 0]
        rs = [r for r in rs if r.get("rate_per_sender") and float(r["rate_per_sender"]) < 50]
        return rs[-1] if rs else None

    def headline_idle(s):
        return idle[s][-1] if idle[s] else None

    def headline_login(s):
        med = [r for r in login[s] if r["run"] == "median"]
        return med[-1] if med else (login[s][-1] if login[s] else None)

    md = []
    md.append("# vestnikd vs Prosody vs ejabberd — load test results\n")
    md.append(f"Produced by `bench/compare{' --quick' if a.mode == 'quick' else ''}` "
              f"with `vestnik-bench`; every number below comes from one run on one machine "
              f"(servers measured one after another, each scenario group on a freshly started server, with the same client settings).\n")
    if skipped:
        md.append(f"**Skipped:** {', '.join(skipped)} (not available when this ran).\n")

    # ---- headline
    hdr = ["", *srv]
    lines = []
    hc = {s: headline_chat(s) for s in srv}
    hr = {s: headline_rate(s) for s in srv}
    hi = {s: headline_idle(s) for s in srv}
    hl = {s: headline_login(s) for s in srv}
    any_c = next((hc[s] for s in srv if hc[s]), None)
    if any_c:
        lines.append([f"chat, flat out, {any_c['users']} users: delivered msgs/s "
                      f"({'median of runs' if any_c['run'] == 'median' else 'one run'})",
                      *[fmt(hc[s]["msgs_per_s"]) if hc[s] else "–" for s in srv]])
        lines.append(["… server CPU µs per message",
                      *[fmt(hc[s].get("server_us_per_msg"), 1) if hc[s] else "–" for s in srv]])
    any_r = next((hr[s] for s in srv if hr[s]), None)
    if any_r:
        lines.append([f"chat, {any_r['users']} users × {any_r['rate_per_sender']} msg/s: latency p50 / p99 / p99.9 ms",
                      *[f"{hr[s]['p50_ms']:.1f} / {hr[s]['p99_ms']:.1f} / {hr[s]['p999_ms']:.1f}"
                        if hr[s] else "–" for s in srv]])
    any_i = next((hi[s] for s in srv if hi[s]), None)
    if any_i:
        lines.append([f"idle, {any_i['sessions']} sessions: server RSS KiB per session",
                      *[fmt(hi[s]["kib_per_session"], 1) if hi[s] else "–" for s in srv]])
    any_l = next((hl[s] for s in srv if hl[s]), None)
    if any_l:
        lines.append([f"login, {any_l['accounts']} accounts, {any_l['concurrency']} at once: logins/s",
                      *[fmt(hl[s]["logins_per_s"]) if hl[s] else "–" for s in srv]])
    if any(flat[s] or rate[s] for s in srv):
        lines.append(["lost / duplicated messages (all chat runs)",
                      *[f"{sum(r['lost'] for r in flat[s] + rate[s] if r['run'] != 'median')} / "
                        f"{sum(r['dup'] for r in flat[s] + rate[s] if r['run'] != 'median')}" for s in srv]])
    lines += muc_headline(muc, srv)
    if lines:
        md.append("## Summary\n")
        md.append(table(hdr, lines) + "\n")
    if "vestnikd" in srv and len(srv) > 1 and any(hc[s] or hi[s] or hl[s] for s in srv):
        rl = []
        for o in srv:
            if o == "vestnikd":
                continue
            c1, c2 = hc.get("vestnikd"), hc.get(o)
            i1, i2 = hi.get("vestnikd"), hi.get(o)
            l1, l2 = hl.get("vestnikd"), hl.get(o)
            rl.append([o,
                       ratio(c1 and c1["msgs_per_s"], c2 and c2["msgs_per_s"]),
                       ratio(i2 and i2["kib_per_session"], i1 and i1["kib_per_session"]),
                       ratio(l1 and l1["logins_per_s"], l2 and l2["logins_per_s"])])
        md.append("Ratios, measured in this same run (higher = vestnikd better):\n")
        md.append(table(["vestnikd vs", "msgs/s", "less memory per session", "logins/s"], rl) + "\n")

    if any(flat[s] or idle[s] for s in srv):
        md.append(f"![messages/s and memory per session versus N]({os.path.basename(a.png)})\n")

    # ---- details
    if "chat" in scen:
        chat_sections(md, srv, flat, rate)
    if "idle" in scen:
        idle_section(md, srv, idle)
    if "login" in scen:
        login_section(md, srv, login)
    if "crosscheck" in scen:
        crosscheck_section(md, srv, xc, rows_of)
    if "muc" in scen:
        muc_section(md, srv, muc, a.muc_fill_timeout, a.muc_large_roles)

    setup_section(md, a, rows, srv, info, meta, muc)
    chart(a.png, srv, flat, idle)


def chat_sections(md, srv, flat, rate):
    md.append("## Chat, flat out\n")
    md.append("Users in a ring (user k sends to user k+1's full JID), 20 stanzas per write, at most "
              "200 sent but not yet received per sender, 64-byte bodies. The warm-up lasts until every "
              "sender's first window has been delivered; then the window is measured. Latency is from "
              "the send timestamp inside each message to its arrival; in flat-out runs it is mostly "
              "queueing (200 × users messages in flight), so compare it in the fixed-rate table below.\n")
    lines = []
    for s in srv:
        for r in flat[s]:
            lines.append([s, r["users"], r["run"], fmt(r["warmup_s"], 1), fmt(r["msgs_per_s"]),
                          fmt(r["p50_ms"], 1), fmt(r["p99_ms"], 1), fmt(r["max_ms"], 1),
                          r["lost"], r["dup"], fmt(r.get("server_cpu_pct")),
                          fmt(r.get("server_us_per_msg"), 1), fmt(r.get("gen_cpu_pct")),
                          fmt(r.get("gen_us_per_msg"), 1)])
    md.append(table(["server", "users", "run", "warm-up s", "msgs/s", "p50 ms", "p99 ms", "max ms",
                     "lost", "dup", "server CPU %", "server µs/msg", "generator CPU %",
                     "generator µs/msg"], lines) + "\n")

    md.append("## Chat at a fixed rate\n")
    lines = []
    for s in srv:
        for r in rate[s]:
            lines.append([s, r["users"], r["rate_per_sender"], fmt(r["msgs_per_s"]),
                          fmt(r["p50_ms"], 2), fmt(r["p90_ms"], 2), fmt(r["p99_ms"], 2),
                          fmt(r["p999_ms"], 2), fmt(r["max_ms"], 2), r["lost"], r["dup"],
                          fmt(r.get("server_cpu_pct")), fmt(r.get("gen_cpu_pct"))])
    md.append(table(["server", "users", "msg/s each", "msgs/s", "p50 ms", "p90 ms", "p99 ms",
                     "p99.9 ms", "max ms", "lost", "dup", "server CPU %", "generator CPU %"],
                    lines) + "\n")


def idle_section(md, srv, idle):
    md.append("## Idle sessions: server memory\n")
    md.append("Sessions signed in (STARTTLS, SCRAM-SHA-256, bind, initial presence) and held. "
              "Per session = (server RSS − RSS before the first session) / sessions; marginal = "
              "growth since the previous step.\n")
    lines = []
    for s in srv:
        for r in idle[s]:
            lines.append([s, r["sessions"], r["failed"], fmt(r["rss_kib"]), fmt(r["base_kib"]),
                          fmt(r["kib_per_session"], 1), fmt(r["marginal_kib_per_session"], 1),
                          fmt(r["ramp_logins_per_s"])])
    md.append(table(["server", "sessions", "failed", "RSS KiB", "RSS before KiB", "KiB/session",
                     "marginal KiB/session", "sign-ins/s while ramping"], lines) + "\n")


def login_section(md, srv, login):
    md.append("## Login\n")
    md.append("Every account signs in (TCP, STARTTLS with a full TLS 1.3 handshake, SCRAM-SHA-256, "
              "bind, presence) and out again; latency is connect() to the bind result. One unmeasured "
              "round first (it also fills the client's SaltedPassword cache).\n")
    lines = []
    for s in srv:
        for r in login[s]:
            lines.append([s, r["run"], r["accounts"], r["concurrency"], r["ok"], r["failed"],
                          fmt(r["logins_per_s"]), fmt(r["p50_ms"], 1), fmt(r["p99_ms"], 1),
                          fmt(r.get("server_cpu_pct")), fmt(r.get("gen_cpu_pct"))])
    md.append(table(["server", "round", "accounts", "at once", "ok", "failed", "logins/s",
                     "p50 ms", "p99 ms", "server CPU %", "generator CPU %"], lines) + "\n")
    gen_bound = [s for s in srv for r in login[s] if r.get("gen_cpu_pct") not in (None, "")
                 and float(r["gen_cpu_pct"]) > 85]
    if gen_bound:
        md.append(f"Note: for {', '.join(sorted(set(gen_bound)))} the generator's CPU was above 85% "
                  "during login rounds: its TLS handshakes (OpenSSL 3.0, about 1 ms of client CPU "
                  "each) limit the rate, so that figure is a lower bound for the server.\n")


def crosscheck_section(md, srv, xc, rows_of):
    md.append("## Cross-check with an independent client\n")
    md.append("`bench/crosscheck.py` (slixmpp) runs the same ring with its own code and counts "
              "delivery itself; `vestnik-bench chat` runs a small ring right after it.\n")
    lines = []
    for s in srv:
        x = xc.get(s)
        vb = [r for r in rows_of("chat", s) if r["rate_per_sender"] != "max"
              and float(r["rate_per_sender"]) >= 50]
        v = vb[-1] if vb else None
        lines.append([s,
                      f"{x['sent']} / {x['delivered']} / {x['lost']} / {x['dup']}" if x else "–",
                      f"{v['users']} users, {fmt(v['sent_per_s'])}/s sent, lost {v['lost']}, dup {v['dup']}"
                      if v else "–"])
    md.append(table(["server", "slixmpp sent / delivered / lost / dup",
                     "vestnik-bench (small ring)"], lines) + "\n")


def setup_section(md, a, rows, srv, info, meta, muc):
    loads = [r for r in rows if r.get("type") == "load"]
    busy = [r for r in loads if r.get("others") not in (None, "", "none")]
    if busy:
        md.append("**Warning: the machine was not idle** — other processes (not part of this "
                  "benchmark) were using CPU when the servers were measured, so absolute numbers are "
                  "low and noisy; ratios within the run are more telling. Re-run on an idle machine.\n")
        md.append(table(["before", "load average", "other processes ≥ 5% CPU"],
                        [[r["server"], r["loadavg"], r["others"]] for r in loads]) + "\n")
    md.append("## Setup\n")
    md.append(f"- Machine: {a.machine}")
    md.append(f"- Server under test pinned to core {a.server_cpu} (`taskset -c {a.server_cpu}`; "
              f"ejabberd also `+S 1:1`), load generator pinned to core {a.gen_cpu}; "
              "servers run one at a time, alone on loopback.")
    for s in srv:
        i = info.get(s, {})
        m = meta.get(s, {})
        md.append(f"- **{s}**: {i.get('version', '?')}. {i.get('notes', '')}. "
                  f"Client saw: {m.get('tls', '?')}, {m.get('sasl', '?')}.")
        if muc["notes"].get(s):
            md.append(f"  MUC: {muc['notes'][s]}.")
    md.append("- Same for all: one self-signed ECDSA P-256 certificate, accounts user0… with one "
              "password, SCRAM-SHA-256 with 4096 iterations and the salt `vestnik-bench-salt`, "
              "log level warning, no rate limits "
              "or traffic shapers, listen backlog ≥ 1024, no stream management, carbons or archive "
              "on any server.")
    md.append("- The client caches SaltedPassword per (password, salt, iterations), as real clients "
              "do, so sign-ins measure the server, not the client's PBKDF2.\n")
    md.append("Exact commands (`PORT`/`PID` are the server's; every command also had `--json FILE`):\n")
    md.append("```")
    with open(a.commands) as f:
        md.append(f.read().rstrip())
    md.append("```\n")
    md.append(f"Raw results: `{os.path.splitext(os.path.basename(a.out))[0]}.jsonl` "
              "(one JSON object per line).\n")
    with open(a.out, "w") as f:
        f.write("\n".join(md) + "\n")


# ---- room fan-out (vestnik-bench muc) ------------------------------------------

def muc_rows(rows, srv):
    """Per series ("by": every presence broadcast; "large": presence broadcast
    limited, vestnik-bench muc --presence-broadcast), per server:
    {occupants: {"fill": row, "rate": row, "max": row, "skipped": why}}."""
    series = {"full": {s: {} for s in srv}, "large": {s: {} for s in srv}}
    notes = {}
    cur = {}  # server -> series of its last fill row (fan-out rows follow it)
    for r in rows:
        t = r.get("type")
        if t == "muc_server":
            notes[r["server"]] = r["notes"]
        elif t == "muc_skipped" and r["server"] in srv:
            by = series[r.get("series", "full")]
            by[r["server"]].setdefault(r["occupants"], {})["skipped"] = r["why"]
        elif not t and r.get("scenario") == "muc" and r.get("server") in srv:
            if r["phase"] == "fill":
                cur[r["server"]] = "full" if r.get("presence_broadcast", "all") == "all" else "large"
            by = series[cur.get(r["server"], "full")]
            d = by[r["server"]].setdefault(r["occupants"], {})
            if r["phase"] == "fill":
                d["fill"] = r
            else:
                d["max" if r["rate"] == "max" else "rate"] = r
    return {"by": series["full"], "large": series["large"], "notes": notes}


def muc_status(d):
    if not d:
        return "not run"
    if "skipped" in d:
        return f"not run: {d['skipped']}"
    f = d.get("fill")
    if not f:
        return "no result"
    return f["status"]


def muc_none(muc, s):
    """The server has no MUC service (or no room results at all)."""
    st = [muc_status(d) for d in muc["by"][s].values()]
    return not st or any("no MUC service" in x for x in st)


def muc_main_n(muc, srv):
    """The room size for the summary: 1000 if every server with a MUC service
    has fan-out results there, else the largest size they all have."""
    have = None
    for s in srv:
        if muc_none(muc, s):
            continue
        ns = {n for n, d in muc["by"][s].items() if d.get("max")}
        have = ns if have is None else have & ns
    if not have:
        return None
    return 1000 if 1000 in have else max(have)


def muc_headline(muc, srv):
    n = muc_main_n(muc, srv)
    if not n:
        return []
    row = lambda s, k: muc["by"][s].get(n, {}).get(k)
    def cell(s, k, key, d):
        r = row(s, k)
        if r:
            return fmt(r.get(key), d)
        return "no MUC service" if muc_none(muc, s) else "–"
    r0 = next((row(s, "rate") for s in srv if row(s, "rate")), None)
    out = [[f"room fan-out, {n} occupants: time to fill the room, s",
            *[cell(s, "fill", "fill_s", 1) for s in srv]],
           [f"… flat out: copies delivered/s", *[cell(s, "max", "copies_per_s", 0) for s in srv]],
           ["… server CPU µs per delivered copy", *[cell(s, "max", "server_us_per_copy", 2) for s in srv]]]
    if r0:
        out.append([f"… at {r0['rate']} msg/s: fan-out (send to last copy) p50 / p99 ms",
                    *[f"{row(s, 'rate')['fanout_p50_ms']:.1f} / {row(s, 'rate')['fanout_p99_ms']:.1f}"
                      if row(s, "rate") else cell(s, "rate", "x", 0) for s in srv]])
    out.append(["lost / duplicated copies (all room runs)",
                *["–" if muc_none(muc, s) else
                  f"{sum(d[k]['lost'] for d in muc['by'][s].values() for k in ('rate', 'max') if k in d)} / "
                  f"{sum(d[k]['dup'] for d in muc['by'][s].values() for k in ('rate', 'max') if k in d)}"
                  for s in srv]])
    return out


def others(r):
    """CPU that other processes took on the server's core, marked when high."""
    v = r.get("core_others_pct")
    if v in (None, ""):
        return "–"
    return f"{v:.0f}" + (" †" if v > 25 else "")


def muc_section(md, srv, muc, fill_timeout, large_roles):
    by, large = muc["by"], muc["large"]
    has_full = any(by[s] for s in srv)
    has_large = any(large[s] for s in srv)
    fixed = [d["rate"] for b in (by, large) for s in srv for d in b[s].values() if "rate" in d]
    copies = f"about {fmt(float(fixed[0]['rate']) * fixed[0]['occupants'])} copies/s, " if fixed else ""
    md.append("## Room fan-out (XEP-0045 multi-user chat)\n")
    md.append("`vestnik-bench muc` (see `bench/muc/README.md`): N occupants sign in and join one "
              "room on `conference.localhost` (the first creates it and submits the instant-room "
              "form), 10 joins at a time, history suppressed. Every join makes the server send a "
              "presence to every occupant, N² presences in all, so filling is measured on its own "
              f"and given up after {fill_timeout or '?'} s (or earlier when the pace so far shows it "
              "cannot finish in that time); larger rooms are then not tried. On the filled room, "
              "4 senders post groupchat messages (64-byte bodies), first at a fixed rate into the "
              f"room ({copies}a load the servers here should keep up with), then flat out with a bounded number of messages not yet "
              "at every occupant (the window). **Fan-out** is the time from sending a message until "
              "the last occupant has it; **copy** is the delivery time of each single copy. Every "
              "occupant, the sender included, must receive every message exactly once. Each room "
              "size runs on a freshly started server.\n")
    if has_full:
        md.append("### Filling the room\n")
        muc_fill_table(md, srv, by, False)
        md.append("### Messages\n")
        muc_msg_table(md, srv, by)
        md.append("In the flat-out rows latency is mostly queueing (the window is kept full); compare "
                  "latency in the fixed-rate rows and throughput and CPU per copy in the flat-out rows. "
                  "\"Others on the server's core\" is the CPU time other processes of the machine took "
                  "on the core the server is pinned to (from `/proc/stat`, minus the server's own), as % "
                  "of the time: where it is high (†: over 25 %), the server had less than a core and its "
                  "throughput, latency and fill time suffer (its CPU per copy much less). Room memory per "
                  "occupant is shown from 100 occupants up (smaller rooms are within the noise).\n")
        muc_ratios(md, srv, by)
    if has_large:
        roles = large_roles.replace(",", ", ")
        md.append(f"### Large rooms (presence broadcast: {roles} only)\n")
        md.append("Filling a room of 10,000 with every join broadcast costs 10⁸ presences, more than "
                  "any server here (or the load generator) gets through in the time limit. XEP-0045's "
                  "room configuration field `muc#roomconfig_presencebroadcast` lists the roles whose "
                  f"presence is broadcast; here it is set to {roles} only (`vestnik-bench muc "
                  f"--presence-broadcast {large_roles}`: the creator fetches the configuration form "
                  "and submits the field instead of the instant-room form). The occupants who join "
                  "are participants, so their joins are not broadcast: each receives the creator's "
                  "presence and its own (status 110, which completes the join), 2N − 1 presences "
                  "in all (ejabberd adds one from the room per joiner): O(N) presences instead of N². "
                  "That does not make a join cheap: a server may still do work per join that grows "
                  "with the room (server µs/join below; Prosody 0.12, for one, builds every "
                  "occupant's presence for a join before it checks whether to send it). "
                  "Messages still reach every occupant. A server whose configuration form does not "
                  "offer the field, or that refuses it, shows \"server does not support "
                  "presencebroadcast\". Server µs per join = server CPU while filling / occupants.\n")
        muc_fill_table(md, srv, large, True)
        muc_msg_table(md, srv, large)
        muc_ratios(md, srv, large)


def muc_fill_table(md, srv, by, large):
    lines = []
    for s in srv:
        for n in sorted(by[s]):
            d = by[s][n]
            f = d.get("fill")
            if not f:
                lines.append([s, n, muc_status(d)] + ["–"] * 8)
                continue
            ok = f["status"] == "ok"
            if large:
                per = (f"{fmt(f.get('presences'))} / {fmt(f.get('presences_expected'))}" if ok else "–")
                us = f.get("server_us_per_presence")
                cpu = fmt(us * f["presences"] / n, 0) if ok and us not in (None, "") else "–"
                if f.get("note"):
                    per += f" ({f['note']})"
            else:
                per = fmt(f.get("presences_per_s")) if ok else "–"
                cpu = fmt(f.get("server_us_per_presence"), 1) if ok else "–"
            lines.append([s, n, f["status"], fmt(f.get("fill_s"), 1) if ok else "–",
                          fmt(f.get("joins_per_s")) if ok else "–",
                          f"{f['join_p50_ms']:.0f} / {f['join_p99_ms']:.0f}" if f.get("joined", 0) > 1 else "–",
                          per, cpu,
                          fmt(f.get("room_kib_per_occupant"), 1) if ok and n >= 100 else "–",
                          others(f), fmt(f.get("gen_cpu_pct"))])
    md.append(table(["server", "occupants", "status", "fill s", "joins/s", "join p50 / p99 ms",
                     "presences received / expected" if large else "presences/s",
                     "server µs/join" if large else "server µs/presence", "room KiB/occupant",
                     "others on the server's core %", "generator CPU %"], lines) + "\n")


def muc_msg_table(md, srv, by):
    lines = []
    for s in srv:
        for n in sorted(by[s]):
            d = by[s][n]
            rs = [d[k] for k in ("rate", "max") if k in d]
            if not rs:
                lines.append([s, n, muc_status(d)] + ["–"] * 10)
                continue
            for r in rs:
                lines.append([s, n, r["rate"], fmt(r["msgs_per_s"], 1), fmt(r["copies_per_s"]),
                              f"{r['fanout_p50_ms']:.1f} / {r['fanout_p99_ms']:.1f} / {r['fanout_max_ms']:.1f}",
                              f"{r['copy_p50_ms']:.1f} / {r['copy_p99_ms']:.1f}",
                              f"{r['lost']} / {r['dup']}", fmt(r.get("server_cpu_pct")),
                              fmt(r.get("server_us_per_copy"), 2), others(r),
                              fmt(r.get("gen_cpu_pct"))])
    md.append(table(["server", "occupants", "msg/s into the room", "msgs/s sent", "copies/s",
                     "fan-out p50 / p99 / max ms", "copy p50 / p99 ms", "lost / dup",
                     "server CPU %", "server µs/copy", "others on the server's core %",
                     "generator CPU %"], lines) + "\n")


def muc_ratios(md, srv, by):
    if "vestnikd" not in srv or len(srv) < 2:
        return
    v = by["vestnikd"]
    if not any(d.get("max") for d in v.values()):
        md.append(f"Ratios against vestnikd: none — vestnikd: {muc_status(v.get(min(v)) if v else None)}.\n")
        return
    rl = []
    for o in srv:
        if o == "vestnikd":
            continue
        for n in sorted(set(v) | set(by[o])):
            a, b = v.get(n, {}), by[o].get(n, {})
            fa, fb = a.get("fill"), b.get("fill")
            ma, mb = a.get("max"), b.get("max")
            ra, rb = a.get("rate"), b.get("rate")
            if not (ma or mb or (fa and fb)):
                continue
            filled = lambda f: f and f["status"] == "ok"
            fill_r = ratio(fb["fill_s"], fa["fill_s"]) if filled(fa) and filled(fb) else (
                f"{o} did not fill" if filled(fa) and fb else "–")
            rl.append([o, n, fill_r,
                       ratio(ma and ma["copies_per_s"], mb and mb["copies_per_s"]),
                       ratio(mb and mb.get("server_us_per_copy"), ma and ma.get("server_us_per_copy")),
                       ratio(rb and rb["fanout_p99_ms"], ra and ra["fanout_p99_ms"])])
    md.append("Ratios against vestnikd, measured in this same run (higher = vestnikd better):\n")
    md.append(table(["vestnikd vs", "occupants", "faster fill", "copies/s flat out",
                     "less CPU per copy", "lower fan-out p99 at the fixed rate"], rl) + "\n")


def chart(png, srv, flat, idle):
    tmp = tempfile.mkdtemp(prefix="vb-chart-")
    plots1, plots2 = [], []
    for s in srv:
        pts = {}
        for r in flat[s]:
            if r["users"] <= 4:
                continue
            if r["run"] == "median" or r["users"] not in pts:
                pts[r["users"]] = r["msgs_per_s"]
        if pts:
            p = os.path.join(tmp, s + "-chat.dat")
            with open(p, "w") as f:
                for n in sorted(pts):
                    f.write(f"{n} {pts[n]}\n")
            plots1.append(f"'{p}' using 1:2 with linespoints lw 2 pt 7 title '{s}'")
        if idle[s]:
            p = os.path.join(tmp, s + "-idle.dat")
            with open(p, "w") as f:
                for r in idle[s]:
                    f.write(f"{r['sessions']} {r['kib_per_session']}\n")
            plots2.append(f"'{p}' using 1:2 with linespoints lw 2 pt 7 title '{s}'")
    if not plots1 and not plots2:
        return
    gp = [f"set terminal pngcairo size 1200,480 font 'sans,11'", f"set output '{png}'",
          "set multiplot layout 1,2", "set grid", "set key below horizontal", "set logscale x",
          "set yrange [0:*]",
          "set title 'chat, flat out: delivered messages/s'", "set xlabel 'users (N)'",
          "set ylabel 'messages/s'", "set format y '%.0s%c'"]
    gp.append("plot " + ", ".join(plots1) if plots1 else "plot 0 notitle")
    gp += ["set title 'idle: server RSS per session'", "set xlabel 'sessions (N)'",
           "set ylabel 'KiB per session'", "set format y '%g'"]
    gp.append("plot " + ", ".join(plots2) if plots2 else "plot 0 notitle")
    gp.append("unset multiplot")
    subprocess.run(["gnuplot"], input="\n".join(gp) + "\n", text=True, check=False)


if __name__ == "__main__":
    main()
