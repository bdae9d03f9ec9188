#!/usr/bin/env python3
"""Gate benchmark: commit latency for 1, 100 and 1,000-file changesets, and commits per second
with 8 agents committing at once, through `warden gate apply` (one process per commit, as an
agent's runner would). View start-up is measured by view.py.

Standard library only. Uses the release build (swift build -c release -Xswiftc -static-executable).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_upper(root, files, tag):
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(os.path.join(root, "Sources"))
    for i in range(files):
        with open(os.path.join(root, "Sources", f"f{i}.swift"), "w") as f:
            f.write(f"// {tag} {i}\n" + "x" * 200 + "\n")


def apply(warden, ws, upper, run):
    t = time.perf_counter_ns()
    p = subprocess.run([warden, "gate", "apply", "--profile", "code", "--from", upper, "--run", run,
                        "--workspace", ws], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = (time.perf_counter_ns() - t) / 1e6
    if p.returncode != 0:
        sys.exit(f"gate apply failed ({p.returncode}): {p.stderr}")
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15, help="commits per changeset size (default 15)")
    ap.add_argument("--concurrent-commits", type=int, default=10, help="commits per agent in the 8-agent run")
    ap.add_argument("--warden", default=os.path.join(REPO, ".build/release/warden"))
    args = ap.parse_args()
    if not os.access(args.warden, os.X_OK):
        sys.exit(f"no warden at {args.warden}: swift build -c release -Xswiftc -static-executable")

    base = tempfile.mkdtemp(prefix="warden-gate-bench-", dir="/var/tmp")
    try:
        ws = os.path.join(base, "ws")
        os.makedirs(os.path.join(ws, "Sources"))
        print("commit latency (warden gate apply, whole process, median of %d):" % args.runs)
        for files in (1, 100, 1000):
            upper = os.path.join(base, f"upper-{files}")
            times = []
            for r in range(args.runs):
                make_upper(upper, files, f"round {r}")
                times.append(apply(args.warden, ws, upper, f"bench-{files}-{r}"))
            print(f"  {files:5d} files   {statistics.median(times):8.2f} ms   (min {min(times):.2f}, max {max(times):.2f})")

        # 8 agents, disjoint files, each committing in a loop against whatever is current.
        agents = 8
        for a in range(agents):
            make_upper(os.path.join(base, f"agent-{a}"), 0, "")
            os.makedirs(os.path.join(base, f"agent-{a}", "Sources", f"a{a}"), exist_ok=True)

        def agent(a):
            upper = os.path.join(base, f"agent-{a}")
            for r in range(args.concurrent_commits):
                if r:
                    os.remove(os.path.join(upper, "Sources", f"a{a}", f"r{r - 1}.swift"))
                with open(os.path.join(upper, "Sources", f"a{a}", f"r{r}.swift"), "w") as f:
                    f.write(f"// agent {a} round {r}\n")
                apply(args.warden, ws, upper, f"agent-{a}-{r}")

        t = time.perf_counter()
        with ThreadPoolExecutor(agents) as pool:
            list(pool.map(agent, range(agents)))
        dt = time.perf_counter() - t
        total = agents * args.concurrent_commits
        print(f"8 concurrent agents: {total} commits in {dt:.2f} s = {total / dt:.1f} commits/s")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
