#!/usr/bin/python3
"""Integration test runner for vestnik.

Starts a real vestnikd (one per test module, or one per test where a test
asks for its own configuration), drives it with slixmpp and raw-socket
clients, and checks that the server shuts down cleanly and that its stderr
carries no sanitizer report.

    tests/integration/run.py [-k PATTERN] [-v] [-x] [--keep] [--list] [MODULE ...]

MODULE (test_foo or test_foo.py) runs only those modules. A module that sets
OPT_IN = "reason" is left out of the default run and runs only when named.

Environment:
    VESTNIKD, VESTNIKCTL   binaries (default build/vestnikd, build/vestnikctl,
                           relative to the repository root)
    VESTNIK_TIMEOUT_SCALE  multiply per-test timeouts (e.g. 3 for ASan builds)
    VESTNIK_STOP_TIMEOUT   seconds vestnikd may take to exit after SIGTERM (5)

The last line of output is always "N passed, N failed"; the exit status is
non-zero when anything failed or nothing ran.
"""

import os
import sys

# slixmpp comes from Debian (python3-slixmpp): always run under /usr/bin/python3.
if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") \
        and not os.environ.get("VESTNIK_IT_REEXEC"):
    os.environ["VESTNIK_IT_REEXEC"] = "1"
    os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)

import argparse
import asyncio
import fnmatch
import importlib
import inspect
import io
import logging
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import harness  # noqa: E402
from harness import Server, ServerError, Context, merge_config  # noqa: E402

DEFAULT_TIMEOUT = 20.0
STDERR_TAIL = 80


class Result:
    def __init__(self, name, ok, seconds, detail=""):
        self.name, self.ok, self.seconds, self.detail = name, ok, seconds, detail


def tail(text, n=STDERR_TAIL):
    lines = text.splitlines()
    if len(lines) > n:
        return "[... %d earlier lines ...]\n" % (len(lines) - n) + "\n".join(lines[-n:])
    return "\n".join(lines)


def selected(name, patterns):
    if not patterns:
        return True
    for p in patterns:
        for alt in p.split(","):
            alt = alt.strip()
            if not alt:
                continue
            if any(ch in alt for ch in "*?[") and fnmatch.fnmatch(name, "*" + alt + "*"):
                return True
            if alt in name:
                return True
    return False


def module_names():
    return sorted(fn[:-3] for fn in os.listdir(HERE) if fn.startswith("test_") and fn.endswith(".py"))


def discover(patterns, wanted=(), opted_out=None):
    """Modules and their selected tests. wanted: module names (empty: all
    modules except those with OPT_IN, which are listed in opted_out)."""
    mods = []
    for base in module_names():
        if wanted and base not in wanted:
            continue
        fn = base + ".py"
        mod = importlib.import_module(base)
        reason = getattr(mod, "OPT_IN", None)
        if reason and base not in wanted:
            if opted_out is not None:
                opted_out.append((fn, reason))
            continue
        tests = []
        for name, obj in vars(mod).items():
            if name.startswith("test_") and inspect.iscoroutinefunction(obj):
                full = "%s::%s" % (fn, name)
                if selected(full, patterns):
                    tests.append((full, obj))
        if tests:
            mods.append((fn, mod, tests))
    return mods


class LogCapture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.buf = io.StringIO()
        self.setFormatter(logging.Formatter("%(relativeCreated)8.0f %(name)s %(levelname)s %(message)s"))

    def emit(self, record):
        try:
            self.buf.write(self.format(record) + "\n")
        except Exception:
            pass

    def take(self):
        v = self.buf.getvalue()
        self.buf = io.StringIO()
        return v


async def run_coro(fn, ctx, timeout):
    task = asyncio.ensure_future(fn(ctx))
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            stack = io.StringIO()
            task.print_stack(file=stack)
            task.cancel()
            try:
                await task
            except BaseException:
                pass
            raise harness.TestFailure("test timed out after %.0fs; it was at:\n%s" % (timeout, stack.getvalue()))
        task.result()
    finally:
        try:
            await asyncio.wait_for(ctx.aclose(), 5)
        except Exception:
            pass


def format_exc(exc):
    if isinstance(exc, (AssertionError, ServerError)):
        tb = traceback.extract_tb(exc.__traceback__)
        frames = [f for f in tb if os.path.basename(f.filename).startswith("test_")]
        where = "".join(traceback.format_list(frames[-3:]))
        return "%s%s: %s" % (where, type(exc).__name__, exc)
    return "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


class Runner:
    def __init__(self, args):
        self.args = args
        self.results = []
        self.scale = float(os.environ.get("VESTNIK_TIMEOUT_SCALE", "1"))
        self.logcap = LogCapture()
        root = logging.getLogger()
        root.addHandler(self.logcap)
        root.setLevel(logging.DEBUG if args.verbose else logging.WARNING)
        harness.VERBOSE = args.verbose

    def report(self, res):
        self.results.append(res)
        status = "PASS" if res.ok else "FAIL"
        print("%s %s (%.2fs)" % (status, res.name, res.seconds), flush=True)
        if not res.ok and self.args.verbose:
            print(res.detail, flush=True)

    def start_server(self, name, config, accounts):
        srv = Server(name, config, accounts, keep=self.args.keep)
        srv.start()
        return srv

    def run_module(self, fn, mod, tests):
        mod_config = getattr(mod, "CONFIG", {}) or {}
        accounts = getattr(mod, "ACCOUNTS", {}) or {}
        shared = None
        for name, test in tests:
            if self.args.exitfirst and any(not r.ok for r in self.results):
                return
            fresh_cfg = getattr(test, "fresh_config", None)
            needs_server = getattr(test, "needs_server", True)
            timeout = getattr(test, "timeout", DEFAULT_TIMEOUT) * self.scale
            t0 = time.monotonic()
            srv = None
            own = False
            detail = []
            ok = True
            self.logcap.take()
            try:
                if needs_server and fresh_cfg is not None:
                    own = True
                    srv = Server(name, merge_config({}, mod_config, fresh_cfg), accounts, keep=self.args.keep)
                    srv.start()
                elif needs_server:
                    if shared is None or not shared.alive():
                        if shared is not None:
                            shared.stop()
                        shared = Server(fn, mod_config, accounts, keep=self.args.keep)
                        shared.start()
                    srv = shared
            except Exception as e:
                ok = False
                detail.append("server start failed: %s" % format_exc(e))
                if not own and shared is not None:
                    srv = shared
            offset = srv.stderr_size() if srv is not None else 0
            ctx = Context(srv, mod_config, accounts, keep=self.args.keep, name=name)
            if ok:
                try:
                    asyncio.run(run_coro(test, ctx, timeout))
                except BaseException as e:  # noqa: B902 - report everything
                    if isinstance(e, KeyboardInterrupt):
                        raise
                    ok = False
                    detail.append(format_exc(e))
            # server health after the test
            if srv is not None and not own and srv.proc is not None and not srv.alive():
                ok = False
                detail.append("vestnikd died during the test (exit status %s)" % srv.proc.returncode)
            servers = ([srv] if own else []) + ctx.extra_servers
            for s in servers:
                problems = s.stop()
                if problems:
                    ok = False
                    detail.append("%s: %s" % (s.name, "; ".join(problems)))
            if srv is not None and not own:
                probs = srv.sanitizer_problems(offset)
                if probs:
                    ok = False
                    detail.append("; ".join(probs))
            if not ok:
                for s in ([srv] if srv is not None else []) + ctx.extra_servers:
                    text = s.stderr_text(offset if s is srv and not own else 0)
                    detail.append("---- vestnikd stderr (%s, %s):\n%s" % (s.name, s.workdir, tail(text)))
                logs = self.logcap.take()
                if self.args.verbose and logs:
                    detail.append("---- client log:\n" + tail(logs, 150))
            for s in servers:
                s.cleanup(ok)
            self.report(Result(name, ok, time.monotonic() - t0, "\n".join(detail)))
        if shared is not None:
            t0 = time.monotonic()
            problems = shared.stop()
            name = "%s::[clean shutdown]" % fn
            if problems:
                detail = "%s\n---- vestnikd stderr (%s):\n%s" % (
                    "; ".join(problems), shared.workdir, tail(shared.stderr_text(0)))
                self.report(Result(name, False, time.monotonic() - t0, detail))
            else:
                self.report(Result(name, True, time.monotonic() - t0))
            shared.cleanup(not problems and all(r.ok for r in self.results if r.name.startswith(fn)))

    def run(self):
        wanted = [m[:-3] if m.endswith(".py") else m for m in self.args.modules]
        unknown = [m for m in wanted if m not in module_names()]
        if unknown:
            print("no such test module: %s" % ", ".join(unknown))
            return 2
        opted_out = []
        mods = discover(self.args.k, wanted, opted_out)
        notes = ["# not run unless named (run.py %s): %s" % (fn[:-3], reason) for fn, reason in opted_out]
        if self.args.list:
            for fn, mod, tests in mods:
                for name, _ in tests:
                    print(name)
            for n in notes:
                print(n)
            return 0
        for n in notes:
            print(n, flush=True)
        if not os.path.exists(harness.VESTNIKD):
            print("warning: %s does not exist (set VESTNIKD)" % harness.VESTNIKD, flush=True)
        t0 = time.monotonic()
        try:
            for fn, mod, tests in mods:
                self.run_module(fn, mod, tests)
                if self.args.exitfirst and any(not r.ok for r in self.results):
                    break
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        failed = [r for r in self.results if not r.ok]
        passed = len(self.results) - len(failed)
        if failed:
            print("\n==================== failures ====================")
            for r in failed:
                print("\n---- FAIL %s\n%s" % (r.name, r.detail))
            print()
        print("(%.1fs; server: %s)" % (time.monotonic() - t0, harness.VESTNIKD))
        print("%d passed, %d failed" % (passed, len(failed)), flush=True)
        return 0 if (not failed and passed > 0) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", action="append", metavar="PATTERN",
                    help="run tests whose 'file::name' contains PATTERN (comma = or; glob allowed)")
    ap.add_argument("-v", "--verbose", action="store_true", help="client wire logs in failure reports")
    ap.add_argument("-x", "--exitfirst", action="store_true", help="stop after the first failure")
    ap.add_argument("--keep", action="store_true", help="keep temp data dirs")
    ap.add_argument("--list", action="store_true", help="list selected tests and exit")
    ap.add_argument("modules", nargs="*", metavar="MODULE",
                    help="run only these modules (test_foo or test_foo.py); an OPT_IN module runs only so")
    args = ap.parse_args()
    sys.exit(Runner(args).run())


if __name__ == "__main__":
    main()
