#!/usr/bin/env python3
"""What the supervisor costs: one intercepted call against a plain one, and write-heavy
workloads (extracting 10,000 files into a write zone, a C build) bare, under warden with
the supervisor, and under warden with --allow-degraded supervisor (both --no-view), then a
default run (view + gate commit) for comparison. One run, side by side.

    swift build -c release -Xswiftc -static-executable
    python3 Benchmarks/supervisor.py [--warden PATH] [--runs N]
"""
import argparse, os, shutil, statistics, subprocess, sys, tarfile, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(cmd, cwd, env=None):
    t = time.perf_counter_ns()
    r = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = (time.perf_counter_ns() - t) / 1e6
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.decode()[-400:]}")
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--warden", default=os.path.join(ROOT, ".build/release/warden"))
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()
    warden = os.path.abspath(args.warden)
    base = tempfile.mkdtemp(prefix="warden-supbench-", dir="/var/tmp")
    ws = os.path.join(base, "ws")
    os.makedirs(os.path.join(ws, "src"))
    ws_view = os.path.join(base, "ws-view")
    os.makedirs(os.path.join(ws_view, "src"))
    # The tarball's 10,000 files are over the gate's default limit of 5,000 per changeset.
    os.makedirs(os.path.join(ws_view, "policies"))
    with open(os.path.join(ws_view, "policies", "gate.yaml"), "w") as fh:
        fh.write("gate: { max_files: 20000 }\n")
    # 10,000 small files in 100 directories.
    tree = os.path.join(base, "tree")
    for d in range(100):
        os.makedirs(os.path.join(tree, f"d{d}"))
        for f in range(100):
            with open(os.path.join(tree, f"d{d}", f"f{f}.txt"), "w") as fh:
                fh.write("x" * 200)
    tarball = os.path.join(base, "files.tar")
    with tarfile.open(tarball, "w") as t:
        t.add(tree, arcname="tree")
    # A small C project: 40 translation units.
    cproj = os.path.join(base, "cproj")
    os.makedirs(cproj)
    for i in range(40):
        with open(os.path.join(cproj, f"u{i}.c"), "w") as fh:
            fh.write(f"int f{i}(int x) {{ int s = 0; for (int k = 0; k < x; k++) s += k * {i}; return s; }}\n")
    with open(os.path.join(cproj, "main.c"), "w") as fh:
        fh.write("int main(void) { return 0; }\n")
    profile = os.path.join(base, "bench.yaml")
    with open(profile, "w") as fh:
        fh.write("role: bench\nextends: code\ntools: [tar, make, sh, rm, cc, gcc, cp]\n"
                 "optional_tools: [/usr/lib/gcc/, /usr/libexec/gcc/, as, ld, collect2]\n")
    env = dict(os.environ, WARDEN_CACHE="off")
    extract = "rm -rf src/tree && tar xf %s -C src" % tarball
    build = "rm -rf src/c && cp -r %s src/c && cd src/c && cc -O0 -c u*.c main.c" % cproj
    # The tarball and project are read from outside the workspace.
    with open(profile, "a") as fh:
        fh.write(f"read: [\"{base}\"]\n")

    # The supervisor's cost is measured without a view (--no-view: the agent writes the
    # workspace directly, as bare does); the last variant adds what a default run does on
    # top: the private view, and the gate committing all 10,000 files when the agent exits.
    def variants(cmd, with_view=True):
        run = [warden, "run", "--profile", profile, "--workspace", ws]
        out = [("bare", ["sh", "-c", cmd], None),
               ("warden (supervisor)", run + ["--no-view", "--", "sh", "-c", cmd], env),
               # An opt-down only applies to a missing feature: pretend it is missing.
               ("warden (no supervisor)", run + ["--no-view", "--allow-degraded", "supervisor", "--", "sh", "-c", cmd],
                dict(env, WARDEN_PRETEND_MISSING="supervisor"))]
        if with_view:
            # Its own workspace: the other variants' writes would be hand edits to the gate.
            out.append(("warden (view + gate)", [warden, "run", "--profile", profile, "--workspace", ws_view,
                                                 "--", "sh", "-c", cmd], env))
        return out

    def cwd_of(argv):
        return ws_view if ws_view in argv else ws

    print(f"warden {warden}; {args.runs} runs each, interleaved; medians")
    for title, cmd in [("extract 10,000 files (tar xf)", extract), ("C build, 41 units (cc -c)", build)]:
        times = {name: [] for name, _, _ in variants(cmd)}
        for name, argv, e in variants(cmd):
            timed(argv, cwd_of(argv), e)  # warm-up
        for _ in range(args.runs):
            for name, argv, e in variants(cmd):
                times[name].append(timed(argv, cwd_of(argv), e))
        bare = statistics.median(times["bare"])
        print(f"-- {title}")
        for name, ts in times.items():
            m = statistics.median(ts)
            print(f"  {name:26} {m:9.1f} ms   x bare {m / bare:5.2f}")
    # Per-call cost: 20,000 write-intent opens of /dev/null (allowed: notified, answered
    # CONTINUE), with and without the supervisor.
    loop = ("i=0; while [ $i -lt 20000 ]; do : > /dev/null; i=$((i+1)); done")
    per = {}
    for name, argv, e in variants(loop, with_view=False):
        per[name] = statistics.median([timed(argv, ws, e) for _ in range(5)])
    print("-- 20,000 write-intent opens of /dev/null from sh (each intercepted)")
    for name, m in per.items():
        print(f"  {name:26} {m:9.1f} ms")
    cost = (per["warden (supervisor)"] - per["warden (no supervisor)"]) / 20000 * 1000
    print(f"  cost per intercepted call: {cost:.1f} us")
    shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
