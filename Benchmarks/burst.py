#!/usr/bin/env python3
"""Burst benchmark: K agents started at the same moment, as an orchestrator starts them.

Each round starts K copies of `/bin/true` at once and times each launch, and the burst
(first start to last exit): bare, under `warden run --profile code` cold (--no-standby),
with one standby waiting (`warden standby`: the first run is served, the rest launch
themselves), with a pool of K (`warden standby --count K`: each run gets its own), and
under bubblewrap. Variants are interleaved in a fresh random order every round. Between
rounds, untimed, the script waits until every standby's successor listens.

Standard library only. See Benchmarks/README.md.
"""

import argparse
import glob
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BWRAP_ARGS = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all"]
TRUE = ["/bin/true"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def burst(argv, k, cwd, env):
    """Starts k copies of argv at once; returns (per-launch ms, burst ms), or None if one failed."""
    t0 = time.perf_counter_ns()
    procs = [(subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL), time.perf_counter_ns()) for _ in range(k)]
    times, failed = [], False
    for p, started in procs:
        failed |= p.wait() != 0
        times.append((time.perf_counter_ns() - started) / 1e6)
    total = (time.perf_counter_ns() - t0) / 1e6
    return None if failed else (times, total)


def wait_sockets(cache, n, limit=20.0):
    end = time.monotonic() + limit
    while len(glob.glob(os.path.join(cache, "standby-*.sock"))) < n:
        if time.monotonic() > end:
            sys.exit(f"burst.py: {n} standbys did not come up within {limit:.0f}s")
        time.sleep(0.002)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-k", type=int, default=4, help="launches per burst (default 4; a pool holds at most 8)")
    ap.add_argument("--rounds", type=int, default=40, help="timed rounds (default 40)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-build", action="store_true", help="use the release binary as it is")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    if not 1 <= args.k <= 8:
        sys.exit("burst.py: -k must be between 1 and 8")
    if not args.no_build:
        log("building: swift build -c release -Xswiftc -static-executable")
        subprocess.run(["swift", "build", "-c", "release", "-Xswiftc", "-static-executable"], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
    warden = os.path.join(REPO, ".build", "release", "warden")
    tmp = tempfile.mkdtemp(prefix="warden-burst-", dir="/var/tmp")
    ws, cache = os.path.join(tmp, "workspace"), os.path.join(tmp, "cache")
    os.makedirs(ws)
    os.makedirs(cache, mode=0o700)
    # Each variant's standbys in a plan cache of their own, so that they never serve each
    # other's runs (a standby's socket is in the cache).
    one, pool = os.path.join(tmp, "one"), os.path.join(tmp, "pool")
    os.makedirs(one, mode=0o700)
    os.makedirs(pool, mode=0o700)

    def with_cache(directory):
        env = dict(os.environ)
        env["WARDEN_CACHE"] = directory
        return env

    run = [warden, "run", "--profile", "code", "--workspace", ws]
    standby = [warden, "standby", "--profile", "code", "--workspace", ws]
    # name: (argv, environment, the cache whose standbys to wait for, how many)
    variants = {
        "bare": (TRUE, None, None, 0),
        "warden cold": (run + ["--no-standby", "--"] + TRUE, with_cache(cache), None, 0),
        "warden, 1 standby": (run + ["--"] + TRUE, with_cache(one), one, 1),
        f"warden, pool of {args.k}": (run + ["--"] + TRUE, with_cache(pool), pool, args.k),
    }
    bwrap = shutil.which("bwrap")
    if bwrap:
        variants["bubblewrap"] = ([bwrap] + BWRAP_ARGS + TRUE, None, None, 0)
    for directory, count in ((one, 1), (pool, args.k)):
        subprocess.run(standby + ["--count", str(count), "--idle", "30m"], cwd=ws, env=with_cache(directory),
                       check=True, stdout=subprocess.DEVNULL)
    rng = random.Random(args.seed)
    samples = {name: ([], []) for name in variants}
    try:
        for r in range(args.warmup + args.rounds):
            names = list(variants)
            rng.shuffle(names)
            for name in names:
                argv, env, directory, standbys = variants[name]
                if directory:
                    wait_sockets(directory, standbys)
                got = burst(argv, args.k, ws, env)
                if got is None:
                    sys.exit(f"burst.py: a launch of '{name}' failed")
                if r >= args.warmup:
                    samples[name][0].extend(got[0])
                    samples[name][1].append(got[1])
            if (r + 1) % 10 == 0:
                log(f"  round {r + 1}/{args.warmup + args.rounds}")
    finally:
        for directory in (one, pool):
            subprocess.run(standby + ["--stop"], cwd=ws, env=with_cache(directory),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)
    rows = {name: {"launch_median_ms": statistics.median(l), "burst_median_ms": statistics.median(b)}
            for name, (l, b) in samples.items()}
    base = rows.get("bubblewrap")
    if args.json:
        print(json.dumps({"k": args.k, "rounds": args.rounds, "rows": rows}, indent=2))
        return
    print(f"{args.k} launches of /bin/true started together; medians over {args.rounds} rounds")
    print(f"{'variant':<22} {'launch ms':>10} {'burst ms':>10} {'burst / bwrap':>14}")
    for name, row in rows.items():
        ratio = f"{row['burst_median_ms'] / base['burst_median_ms']:.2f}x" if base else "-"
        print(f"{name:<22} {row['launch_median_ms']:>10.2f} {row['burst_median_ms']:>10.2f} {ratio:>14}")


if __name__ == "__main__":
    main()
