#!/usr/bin/env python3
"""Workspace-size benchmark: what a launch and a commit cost as the workspace grows.

For each size (directories x files per directory, under Sources/), a fresh workspace is made
and timed: `/bin/true` bare, under `warden run --profile code` cold (--no-standby) and with a
standby waiting (served), and a run whose agent writes one new file, which the gate commits
(the commit includes the hand-edit scan and the next version's snapshot). bubblewrap, which
never looks at the workspace, is the baseline for the launches. Rounds interleave the
variants in a fresh random order. Between timed runs, untimed, the script waits for the
standby's successor.

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
BWRAP = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all", "/bin/true"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def make_workspace(path, dirs, files):
    for d in range(dirs):
        sub = os.path.join(path, "Sources", f"m{d // 50}", f"p{d % 50}")
        os.makedirs(sub)
        for f in range(files):
            with open(os.path.join(sub, f"f{f}.c"), "w") as out:
                out.write("int x;\n" * 20)


def timed(argv, cwd, env):
    t = time.perf_counter_ns()
    rc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL).returncode
    ms = (time.perf_counter_ns() - t) / 1e6
    if rc != 0:
        sys.exit(f"scale.py: {argv} exited {rc}")
    return ms


def wait_socket(cache, limit=20.0):
    end = time.monotonic() + limit
    while not glob.glob(os.path.join(cache, "standby-*.sock")):
        if time.monotonic() > end:
            sys.exit(f"scale.py: no standby came up within {limit:.0f}s")
        time.sleep(0.002)


def measure(warden, dirs, files, rounds, rng):
    tmp = tempfile.mkdtemp(prefix="warden-scale-", dir="/var/tmp")
    try:
        ws, cache = os.path.join(tmp, "ws"), os.path.join(tmp, "cache")
        os.makedirs(ws)
        os.makedirs(cache, mode=0o700)
        make_workspace(ws, dirs, files)
        env = dict(os.environ, WARDEN_CACHE=cache)
        run = [warden, "run", "--profile", "code"]
        counter = iter(range(1 << 30))
        variants = {
            "bare": lambda: timed(["/bin/true"], ws, env),
            "cold": lambda: timed(run + ["--no-standby", "--", "/bin/true"], ws, env),
            "served": lambda: (wait_socket(cache), timed(run + ["--", "/bin/true"], ws, env))[1],
            "commit": lambda: commit(),
        }

        def commit():
            ms = timed(run + ["--no-standby", "--", "sh", "-c", f"echo x > Sources/m0/p0/new{next(counter)}.c"],
                       ws, env)
            # Untimed: the waiting standby's view is now out of date. This run finds it so (it
            # declines, and the run launches itself), and a fresh one follows for "served".
            wait_socket(cache)
            timed(run + ["--", "/bin/true"], ws, env)
            return ms

        if shutil.which("bwrap"):
            variants["bubblewrap"] = lambda: timed(BWRAP, ws, env)
        subprocess.run([warden, "standby", "--profile", "code"], cwd=ws, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        for name, f in variants.items():
            f()  # warm-up: plan cache, first snapshot
        results = {name: [] for name in variants}
        for _ in range(rounds):
            order = list(variants)
            rng.shuffle(order)
            for name in order:
                results[name].append(variants[name]())
        subprocess.run([warden, "standby", "--profile", "code", "--stop"], cwd=ws, env=env,
                       stdout=subprocess.DEVNULL)
        return {name: statistics.median(v) for name, v in results.items()}
    finally:
        subprocess.run(["chmod", "-R", "u+w", tmp], stderr=subprocess.DEVNULL)
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10x10,500x10,2000x10",
                    help="DIRSxFILES,... (default 10x10,500x10,2000x10: 100 to 20,000 files)")
    ap.add_argument("--rounds", type=int, default=15, help="timed rounds per size (default 15)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-build", action="store_true", help="use the release binary as it is")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = ap.parse_args()
    sizes = []
    for item in args.sizes.split(","):
        d, _, f = item.partition("x")
        if not (d.isdigit() and f.isdigit()) or int(d) < 1:
            sys.exit(f"scale.py: bad size {item!r}: DIRSxFILES, e.g. 2000x10")
        sizes.append((int(d), int(f)))
    if not args.no_build:
        log("building: swift build -c release -Xswiftc -static-executable")
        subprocess.run(["swift", "build", "-c", "release", "-Xswiftc", "-static-executable"], cwd=REPO, check=True,
                       stdout=subprocess.DEVNULL)
    warden = os.path.join(REPO, ".build", "release", "warden")
    rng = random.Random(args.seed)
    rows = []
    for dirs, files in sizes:
        log(f"workspace of {dirs} directories x {files} files")
        rows.append(dict(dirs=dirs, files=dirs * files, **measure(warden, dirs, files, args.rounds, rng)))
    if args.json:
        for r in rows:
            print(json.dumps(r))
        return
    names = ["bare", "cold", "served", "bubblewrap", "commit"]
    print(f"median ms over {args.rounds} rounds; commit = a run whose agent writes one file, committed")
    print(f"{'directories':>11} {'files':>7} " + " ".join(f"{n:>10}" for n in names))
    for r in rows:
        print(f"{r['dirs']:>11} {r['files']:>7} " + " ".join(
            f"{r[n]:>10.2f}" if n in r else f"{'-':>10}" for n in names))


if __name__ == "__main__":
    main()
