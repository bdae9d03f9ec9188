#!/usr/bin/env python3
"""View benchmark: what it costs to give an agent its private copy-on-write view of a 1,000,
10,000 and 100,000-file workspace, side by side with `git worktree add` and `cp -a` of the same
tree, in one run.

For each size it prints, as medians:
  - snapshot: making the hard-link snapshot of a version (paid once per version; after a
    commit the committing run pays it, so the next agent does not);
  - view start: `warden run --profile code -- /bin/true` with the version's snapshot in place,
    minus the same with --no-view: the overlay, the view directory and the snapshot lease;
  - first view: the same run when no snapshot exists yet (the snapshot is made on the way);
  - git worktree add --detach, and cp -a, of the same tree.

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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def make_tree(ws, files, size):
    """`files` files of `size` bytes, 100 to a directory, under Sources/."""
    os.makedirs(ws)
    payload = b"x" * size
    for i in range(files):
        d = os.path.join(ws, "Sources", f"d{i // 100}")
        if i % 100 == 0:
            os.makedirs(d)
        with open(os.path.join(d, f"f{i}.swift"), "wb") as f:
            f.write(payload)


def timed(argv, cwd=None):
    t = time.perf_counter_ns()
    p = subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    dt = (time.perf_counter_ns() - t) / 1e6
    if p.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr}")
    return dt


def drop_snapshots(ws):
    snaps = os.path.join(ws, ".warden/gate/snapshots")
    shutil.rmtree(snaps, ignore_errors=True)
    try:
        os.unlink(os.path.join(ws, ".warden/gate/current"))
    except FileNotFoundError:
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=11, help="runs per measure (default 11)")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--file-bytes", type=int, default=4096, help="bytes per file (the view must not depend on it)")
    ap.add_argument("--warden", default=os.path.join(REPO, ".build/release/warden"))
    args = ap.parse_args()
    if not os.access(args.warden, os.X_OK):
        sys.exit(f"no warden at {args.warden}: swift build -c release -Xswiftc -static-executable")
    git = shutil.which("git")
    base = tempfile.mkdtemp(prefix="warden-view-bench-", dir="/var/tmp")
    run = [args.warden, "run", "--profile", "code"]
    try:
        print(f"{'files':>7} {'snapshot':>10} {'view start':>11} {'first view':>11} {'run --no-view':>14} "
              f"{'run (view)':>11} {'git worktree':>13} {'cp -a':>9}   (ms, median of {args.runs})")
        for files in [int(s) for s in args.sizes.split(",")]:
            ws = os.path.join(base, f"ws-{files}")
            make_tree(ws, files, args.file_bytes)
            runs = max(3, args.runs if files <= 10000 else args.runs // 3)
            plain, viewed, first = [], [], []
            timed(run + ["--workspace", ws, "--", "/bin/true"])  # plan cache, snapshot 0
            for _ in range(runs):
                plain.append(timed(run + ["--workspace", ws, "--no-view", "--", "/bin/true"]))
                viewed.append(timed(run + ["--workspace", ws, "--", "/bin/true"]))
                drop_snapshots(ws)
                first.append(timed(run + ["--workspace", ws, "--", "/bin/true"]))
            snapshot = [f - v for f, v in zip(first, viewed)]
            worktree, copy = [], []
            if git:
                subprocess.run([git, "init", "-q", ws], check=True)
                subprocess.run([git, "-C", ws, "add", "-A", "Sources"], check=True)
                subprocess.run([git, "-C", ws, "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "tree"], check=True)
                for i in range(runs):
                    wt = os.path.join(base, f"wt-{files}-{i}")
                    worktree.append(timed([git, "-C", ws, "worktree", "add", "-q", "--detach", wt]))
                    subprocess.run([git, "-C", ws, "worktree", "remove", "--force", wt], check=True)
            for i in range(runs):
                dst = os.path.join(base, f"cp-{files}-{i}")
                copy.append(timed(["cp", "-a", os.path.join(ws, "Sources"), dst]))
                shutil.rmtree(dst)
            med = statistics.median
            start = med(viewed) - med(plain)
            print(f"{files:>7} {med(snapshot):>10.2f} {start:>11.2f} {med(first) - med(plain):>11.2f} "
                  f"{med(plain):>14.2f} {med(viewed):>11.2f} {med(worktree) if worktree else float('nan'):>13.2f} "
                  f"{med(copy):>9.2f}")
            shutil.rmtree(ws)
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
