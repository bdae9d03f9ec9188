#!/usr/bin/env python3
"""Launch-overhead benchmark: warden vs bare exec, bubblewrap and firejail.

Startup: wall time of /bin/true bare, under each built-in warden profile (cold, and
with a standby waiting: `warden standby`), under bubblewrap and under firejail. Workloads: `find /usr -type f` and a tar|cat
pipeline, bare vs warden (code profile) vs bubblewrap. Variants are interleaved
round-robin (each round in a fresh random order) so machine drift hits all alike.

Standard library only. See Benchmarks/README.md.
"""

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROFILES = ["orchestrator", "code", "test", "debug", "verify", "explore"]
FULL_ENFORCEMENT = "code"
INSTALL_HINT = "not installed (apt-get install -y bubblewrap firejail)"
BWRAP_ARGS = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-all"]
FIREJAIL_ARGS = ["--quiet", "--noprofile"]
BUILD = ["swift", "build", "-c", "release", "-Xswiftc", "-static-executable"]
LAUNCH_TARGET = 0.75    # code-profile launch median <= 0.75 x bubblewrap median
WORKLOAD_TARGET = 1.10  # each workload under warden <= 1.10 x bare median
# (label, argv, exit codes that count as success). find exits 1 when it meets a directory
# it may not read: root bare has CAP_DAC_OVERRIDE, root in a sandbox that drops it does not
# (e.g. /usr/share/polkit-1/rules.d is 0700), so that exit is accepted and reported.
WORKLOADS = [
    ("find /usr -type f", ["find", "/usr", "-type", "f"], (0, 1)),
    ("tar cf - /usr/share/doc | cat", ["sh", "-c", "tar cf - /usr/share/doc | cat >/dev/null"], (0,)),
]
PROBE_TRIES = 3
WORKLOAD_TOOLS = ["find", "tar", "cat", "sh"]
WORKLOAD_WARMUP = 2


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------
# Build and locate the binary

def build(retries, wait):
    for attempt in range(1, retries + 2):
        log(f"building: {' '.join(BUILD)} (attempt {attempt})")
        p = subprocess.run(BUILD, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode == 0:
            return
        tail = "\n".join(p.stdout.splitlines()[-25:])
        # Someone else editing sources mid-build is transient; anything else is not.
        if "modified during the build" in p.stdout and attempt <= retries:
            log(f"sources changed during the build; retrying in {wait}s")
            time.sleep(wait)
            continue
        log(tail)
        sys.exit(f"launch.py: release build failed (exit {p.returncode})")


def find_binary():
    try:
        p = subprocess.run(BUILD + ["--show-bin-path"], cwd=REPO, capture_output=True, text=True, timeout=120)
        if p.returncode == 0 and p.stdout.strip():
            path = os.path.join(p.stdout.strip().splitlines()[-1], "warden")
            if os.path.exists(path):
                return path
    except (OSError, subprocess.TimeoutExpired):
        pass
    return os.path.join(REPO, ".build", "release", "warden")


# ---------------------------------------------------------------------------
# Variants

class Variant:
    """One command to time. `argv` None means the row is skipped (reason in `status`)."""

    def __init__(self, section, name, argv, kind, profile=None, ok_codes=(0,)):
        self.section = section      # "startup" or a workload label
        self.ok_codes = ok_codes
        self.transient = 0          # timed runs that failed once but succeeded when re-run
        self.name = name
        self.argv = argv
        self.kind = kind            # bare | warden | bwrap | firejail | diag | floor
        self.profile = profile
        self.status = "ok"          # ok | FAILED | a skip reason
        self.samples = []
        self.note = None
        self.standby = None         # for a standby row: the `warden standby` argv (its socket: .socket)
        self.socket = None

    @property
    def active(self):
        return self.status == "ok" and self.argv is not None


def probe(argv, cwd):
    """Runs argv once; returns (returncode, stderr)."""
    try:
        p = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=600)
        return p.returncode, p.stderr.decode(errors="replace").strip()
    except OSError as e:
        return 127, str(e)
    except subprocess.TimeoutExpired:
        return -1, "timed out after 600s"


def check(v, cwd):
    """Probes v up to PROBE_TRIES times (another warden starting at the same moment can
    make one launch fail); marks it FAILED if it never succeeds. Returns the last rc."""
    for attempt in range(PROBE_TRIES):
        rc, err = probe(v.argv, cwd)
        if rc in v.ok_codes:
            if attempt:
                transient(v, rc_first, err_first)
            return rc, err
        if attempt == 0:
            rc_first, err_first = rc, err
    fail(v, rc, err)
    return rc, err


def transient(v, rc, err):
    v.transient += 1
    if v.transient == 1:
        log(f"--- {v.section}: {v.name} failed once (exit {rc}) but succeeded when re-run; its stderr:")
        log(err if err else "(empty)")
        log("---")


def fail(v, rc, err):
    v.status = "FAILED"
    log(f"--- {v.section}: {v.name} FAILED (exit {rc}); its stderr:")
    log(err if err else "(empty)")
    log("---")


def write_profile(tmp, name, parent, tools):
    """A profile that extends a built-in by name and adds tools; returns its path."""
    d = os.path.join(tmp, "profiles")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"{name}.yaml")
    with open(path, "w") as f:
        f.write(f"# written by Benchmarks/launch.py\nrole: {name}\nextends: {parent}\n")
        f.write("tools: [" + ", ".join(tools) + "]\n")
    return path


def standby_argv(warden, profile, ws, degraded):
    extra = []
    for feature in degraded:
        extra += ["--allow-degraded", feature]
    return [warden, "standby", "--profile", profile, "--workspace", ws] + extra


def start_standby(v, cwd):
    """Starts v's standby; returns False (and marks v FAILED) if it does not come up."""
    p = subprocess.run(v.standby, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    line = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""
    if p.returncode != 0 or ": " not in line:
        fail(v, p.returncode, p.stderr.strip())
        return False
    v.socket = line.split(": ", 1)[1]
    return True


def wait_standby(v, limit=10.0):
    """After a claimed run, waits (untimed) for the successor to listen, so that each timed
    run finds one ready, as a launch does that comes more than a few milliseconds after the last."""
    end = time.monotonic() + limit
    while not os.path.exists(v.socket):
        if time.monotonic() > end:
            v.note = (v.note + "; " if v.note else "") + "a successor was not ready within 10s once"
            return
        time.sleep(0.002)


def stop_standbys(variants, cwd):
    for v in variants:
        if v.standby:
            subprocess.run(v.standby + ["--stop"], cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def warden_argv(warden, profile, ws, cmd, degraded):
    """`degraded` may hold "standby": then --no-standby (a cold launch even where one waits)."""
    extra = []
    for feature in degraded:
        extra += ["--no-standby"] if feature == "standby" else ["--allow-degraded", feature]
    return [warden, "run", "--profile", profile, "--workspace", ws] + extra + ["--"] + cmd


def baseline(section, kind, cmd, cwd, ok_codes=(0,)):
    tool = {"bwrap": "bwrap", "firejail": "firejail"}[kind]
    path = shutil.which(tool)
    name = "bubblewrap" if kind == "bwrap" else "firejail"
    if not path:
        v = Variant(section, name, None, kind)
        v.status = INSTALL_HINT
        return v
    args = BWRAP_ARGS if kind == "bwrap" else FIREJAIL_ARGS
    v = Variant(section, name, [path] + args + cmd, kind, ok_codes=ok_codes)
    v.probe_rc, v.probe_err = check(v, cwd)
    return v


def startup_variants(warden, tmp, ws, degraded, notes):
    true = ["/bin/true"]
    vs = [Variant("startup", "bare /bin/true", true, "bare")]
    diag_help = Variant("startup", "warden --help (no launch)", [warden, "--help"], "diag")
    diag_explain = None
    for p in PROFILES:
        v = Variant("startup", f"warden --profile {p}", warden_argv(warden, p, ws, true, degraded + ["standby"]), "warden", p)
        rc, err = probe(v.argv, ws)
        if rc == 126:
            path = write_profile(tmp, f"{p}-bench", p, ["/bin/true", "/usr/bin/true"])
            v.argv = warden_argv(warden, path, ws, true, degraded)
            v.name = f"warden --profile {p}*"
            v.note = f"{p} refused /bin/true (exit 126); used temporary {path} (extends: {p}, tools: [/bin/true, /usr/bin/true])"
            notes.append("* " + v.note)
        rc, err = check(v, ws)
        if v.status == "ok" and p == FULL_ENFORCEMENT:
            prof = v.argv[v.argv.index("--profile") + 1]
            diag_explain = Variant("startup", f"warden --explain {p} (no launch)",
                                   [warden, "run", "--profile", prof, "--workspace", ws, "--explain", "--"] + true,
                                   "diag")
        vs.append(v)
    for v in [v for v in vs if v.kind == "warden" and v.status == "ok"]:
        prof = v.argv[v.argv.index("--profile") + 1]
        s = Variant("startup", v.name + " (standby)", [a for a in v.argv if a != "--no-standby"], "warden", v.profile)
        s.standby = standby_argv(warden, prof, ws, degraded)
        if start_standby(s, ws):
            check(s, ws)
            wait_standby(s)
        vs.append(s)
    vs.append(baseline("startup", "bwrap", true, ws))
    vs.append(baseline("startup", "firejail", true, ws))
    check(diag_help, ws)
    vs.append(diag_help)
    if diag_explain:
        check(diag_explain, ws)
        vs.append(diag_explain)
    return vs


def workload_variants(warden, tmp, ws, degraded, notes):
    # Does the code profile run every tool the workloads need? Try it before writing one.
    profile = FULL_ENFORCEMENT
    for tool in WORKLOAD_TOOLS:
        # --explain resolves the command against the profile's tools without running it.
        argv = warden_argv(warden, profile, ws, [tool], degraded)
        rc, _ = probe(argv[:-2] + ["--explain"] + argv[-2:], ws)
        if rc == 126:
            profile = write_profile(tmp, f"{FULL_ENFORCEMENT}-workload", FULL_ENFORCEMENT, WORKLOAD_TOOLS)
            notes.append(f"workloads ran under temporary {profile} (extends: {FULL_ENFORCEMENT}, "
                         f"tools: [{', '.join(WORKLOAD_TOOLS)}]): {FULL_ENFORCEMENT} lacks '{tool}'")
            break
    label = "code" if profile == FULL_ENFORCEMENT else "code+tools"
    floor = build_floor(tmp, notes)
    groups = []
    for section, cmd, ok in WORKLOADS:
        cold = Variant(section, f"warden --profile {label}", warden_argv(warden, profile, ws, cmd, degraded + ["standby"]),
                       "warden", FULL_ENFORCEMENT, ok_codes=ok)
        vs = [Variant(section, "bare", cmd, "bare", ok_codes=ok), cold]
        for v in vs:
            v.probe_rc, v.probe_err = check(v, ws)
        standby = Variant(section, cold.name + " (standby)", [a for a in cold.argv if a != "--no-standby"],
                          "warden", FULL_ENFORCEMENT, ok_codes=ok)
        standby.standby = standby_argv(warden, profile, ws, degraded)
        if start_standby(standby, ws):
            standby.probe_rc, standby.probe_err = check(standby, ws)
            wait_standby(standby)
        vs.append(standby)
        vs.append(baseline(section, "bwrap", cmd, ws, ok))
        if floor:
            f = Variant(section, "floor: landlock+seccomp only", [floor, "landlock", "seccomp", "--"] + cmd, "floor", ok_codes=ok)
            f.probe_rc, f.probe_err = check(f, ws)
            vs.append(f)
        for v in vs:
            if v.status == "ok" and getattr(v, "probe_rc", 0) != 0:
                first = (v.probe_err.splitlines() or [""])[0]
                notes.append(f"{section}: {v.name} exits {v.probe_rc} (accepted): {first}")
        groups.append(vs)
    return groups


def build_floor(tmp, notes):
    """Benchmarks/floor.c: the workload under Landlock and seccomp alone, the mechanisms'
    own cost, against which warden's overhead can be read. None when it cannot be built."""
    out = os.path.join(tmp, "floor")
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        notes.append("floor row skipped: no C compiler (cc)")
        return None
    p = subprocess.run([cc, "-O2", "-o", out, os.path.join(REPO, "Benchmarks", "floor.c"), "-lseccomp"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        notes.append("floor row skipped: Benchmarks/floor.c did not build: " + (p.stderr.strip().splitlines() or [""])[-1])
        return None
    return out


# ---------------------------------------------------------------------------
# Timing

def measure(variants, rounds, warmup, cwd, what, rng):
    """Every round runs each variant once, in a fresh random order: a fixed or rotated order
    would give each variant the same predecessor every round, and one launch's asynchronous
    teardown (namespaces, cgroups) lands on whichever runs next."""
    active = [v for v in variants if v.active]
    total = warmup + rounds
    started = time.monotonic()
    for r in range(total):
        order = active[:]
        rng.shuffle(order)
        for v in order:
            if not v.active:
                continue
            t0 = time.perf_counter_ns()
            p = subprocess.run(v.argv, cwd=cwd, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t1 = time.perf_counter_ns()
            if p.returncode not in v.ok_codes:
                rc, err = probe(v.argv, cwd)
                if rc in v.ok_codes:
                    transient(v, p.returncode, "(not captured: the timed run discards stderr; "
                                               "the re-run succeeded)")
                else:
                    fail(v, p.returncode, err)
                continue
            if r >= warmup:
                v.samples.append((t1 - t0) / 1e6)
            if v.standby:
                wait_standby(v)
        if (r + 1) % max(1, total // 10) == 0:
            log(f"  {what}: round {r + 1}/{total} ({time.monotonic() - started:.0f}s)")


def p90(xs):
    s = sorted(xs)
    return s[max(0, math.ceil(0.9 * len(s)) - 1)]


def summarize(v):
    if not v.samples or v.status != "ok":
        return None
    return {"median_ms": statistics.median(v.samples), "p90_ms": p90(v.samples), "n": len(v.samples)}


# ---------------------------------------------------------------------------
# Report

def build_report(sections, args, warden, notes):
    rows = []
    for section, vs in sections:
        stats = {v.name: summarize(v) for v in vs}
        bare = next((stats[v.name] for v in vs if v.kind == "bare"), None)
        bw = next((stats[v.name] for v in vs if v.kind == "bwrap"), None)
        for v in vs:
            s = stats[v.name]
            row = {"section": section, "variant": v.name, "kind": v.kind, "status": v.status,
                   "median_ms": None, "p90_ms": None, "n": 0, "x_bare": None, "x_bwrap": None,
                   "transient_failures": v.transient}
            if v.profile:
                row["profile"] = v.profile
            if v.note:
                row["note"] = v.note
            if s:
                row.update(s)
                if bare and v.kind != "bare":
                    row["x_bare"] = s["median_ms"] / bare["median_ms"]
                if bw and v.kind == "warden":
                    row["x_bwrap"] = s["median_ms"] / bw["median_ms"]
            rows.append(row)

    targets = []
    bw = next((r for r in rows if r["section"] == "startup" and r["kind"] == "bwrap"), None)
    for standby in (True, False):
        code = next((r for r in rows if r["section"] == "startup" and r["kind"] == "warden"
                     and r.get("profile") == FULL_ENFORCEMENT and r["variant"].endswith("(standby)") == standby), None)
        how = "with a standby waiting" if standby else "cold, no standby"
        t = {"target": f"launch (profile {FULL_ENFORCEMENT}, {how}) <= {LAUNCH_TARGET:.2f}x bubblewrap median",
             "limit": LAUNCH_TARGET, "value": None, "result": "FAIL"}
        if code is None or code["median_ms"] is None:
            t["why"] = "warden code-profile launch FAILED"
        elif bw is None or bw["median_ms"] is None:
            t["result"] = "SKIP"
            t["why"] = f"bubblewrap {bw['status'] if bw else 'missing'}"
        else:
            t["value"] = code["x_bwrap"]
            t["result"] = "PASS" if code["x_bwrap"] <= LAUNCH_TARGET else "FAIL"
        targets.append(t)
    for section, _, _ in WORKLOADS:
        for standby in (True, False):
            r = next((r for r in rows if r["section"] == section and r["kind"] == "warden"
                      and r["variant"].endswith("(standby)") == standby), None)
            how = "with a standby waiting" if standby else "cold"
            t = {"target": f"workload '{section}' under warden ({how}) <= {WORKLOAD_TARGET:.2f}x bare",
                 "limit": WORKLOAD_TARGET, "value": None, "result": "FAIL"}
            if r is None or r["x_bare"] is None:
                t["why"] = "warden or bare run FAILED"
            else:
                t["value"] = r["x_bare"]
                t["result"] = "PASS" if r["x_bare"] <= WORKLOAD_TARGET else "FAIL"
            targets.append(t)

    return {
        "warden": warden, "uid": os.getuid(), "kernel": os.uname().release,
        "runs": args.runs, "warmup": args.warmup, "workload_runs": args.workload_runs,
        "allow_degraded": args.allow_degraded, "rows": rows, "targets": targets, "notes": notes,
    }


def fmt(x, spec):
    width = int(spec.split(".")[0])
    return f"{'-':>{width}}" if x is None else format(x, spec)


def print_table(rep):
    print(f"warden: {rep['warden']}  uid={rep['uid']}  kernel {rep['kernel']}")
    print(f"startup: {rep['runs']} runs (+{rep['warmup']} warm-up) per variant; "
          f"workloads: {rep['workload_runs']} runs (+{WORKLOAD_WARMUP} warm-up); "
          f"round-robin, order shuffled each round")
    if rep["allow_degraded"]:
        print(f"NOTE: warden ran with --allow-degraded {', '.join(rep['allow_degraded'])}")
    w = max(len(r["variant"]) for r in rep["rows"]) + 2
    head = f"{'variant':<{w}}{'median ms':>11}{'p90 ms':>11}{'x bare':>9}{'x bwrap':>9}"
    section = None
    print()
    print(head)
    for r in rep["rows"]:
        if r["section"] != section:
            section = r["section"]
            print(f"-- {section} " + "-" * max(0, len(head) - len(section) - 4))
        if r["status"] != "ok":
            print(f"{r['variant']:<{w}}{r['status']}")
            continue
        extra = f"  ({r['transient_failures']} transient failures, re-run)" if r["transient_failures"] else ""
        print(f"{r['variant']:<{w}}{fmt(r['median_ms'], '11.2f')}{fmt(r['p90_ms'], '11.2f')}"
              f"{fmt(r['x_bare'], '9.2f')}{fmt(r['x_bwrap'], '9.2f')}{extra}")
    for n in rep["notes"]:
        print(n)
    print()
    print("targets:")
    for t in rep["targets"]:
        val = f"{t['value']:.2f}x" if t["value"] is not None else t.get("why", "")
        print(f"  {t['result']:<4}  {t['target']}: {val}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=200, help="startup runs per variant (default 200)")
    ap.add_argument("--warmup", type=int, default=10, help="startup warm-up runs per variant (default 10)")
    ap.add_argument("--workload-runs", type=int, default=15, help="workload runs per variant (default 15)")
    ap.add_argument("--no-build", action="store_true", help="skip the release build")
    ap.add_argument("--build-retries", type=int, default=3,
                    help="retries when sources change during the build (default 3, 60s apart)")
    ap.add_argument("--warden", help="path to the warden binary (default: the release build's)")
    ap.add_argument("--allow-degraded", action="append", default=[], metavar="FEATURE",
                    help="pass --allow-degraded FEATURE to warden (repeatable; reported in the output)")
    ap.add_argument("--seed", type=int, default=1, help="seed for the per-round run order (default 1)")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON instead of a table")
    args = ap.parse_args()

    if args.warden:
        warden = os.path.abspath(args.warden)
    else:
        if not args.no_build:
            build(args.build_retries, 60)
        warden = find_binary()
    if not (os.path.isfile(warden) and os.access(warden, os.X_OK)):
        sys.exit(f"launch.py: no executable warden at {warden} (build it, or pass --warden PATH)")

    # The workspace lives under /var/tmp: warden refuses a workspace under a scratch /tmp.
    tmp = tempfile.mkdtemp(prefix="warden-bench-", dir="/var/tmp")
    os.chmod(tmp, 0o755)
    ws = os.path.join(tmp, "workspace")
    os.mkdir(ws)
    notes = []
    try:
        log(f"warden {warden}; workspace {ws}")
        startup = startup_variants(warden, tmp, ws, args.allow_degraded, notes)
        rng = random.Random(args.seed)
        measure(startup, args.runs, args.warmup, ws, "startup", rng)
        groups = workload_variants(warden, tmp, ws, args.allow_degraded, notes)
        for vs in groups:
            measure(vs, args.workload_runs, WORKLOAD_WARMUP, ws, vs[0].section, rng)
        sections = [("startup", startup)] + [(vs[0].section, vs) for vs in groups]
        rep = build_report(sections, args, warden, notes)
    finally:
        stop_standbys(locals().get("startup", []) + [v for vs in locals().get("groups", []) for v in vs], ws)
        shutil.rmtree(tmp, ignore_errors=True)

    if args.json:
        print(json.dumps(rep, indent=2))
    else:
        print_table(rep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
