#!/usr/bin/env python3
"""Every performance figure of docs/performance.md from one run, with the ratios.

    python3 Benchmarks/bench.py                 # 100,000 calls per end-to-end run (about 10 minutes; with --big about 45)
    python3 Benchmarks/bench.py --calls 20000   # quicker
    python3 Benchmarks/bench.py --big           # also 1,000,000 calls at each trace level
    python3 Benchmarks/bench.py --only-big      # only the 1,000,000-call runs and their exports (about 35 minutes)

Builds the release binaries, then measures: the SimPy peer (Benchmarks/peers/failover_simpy.py)
on the same failover workload; pbxsim end to end at each trace level with a 2,000- and a
9,000-extension caller range, the two ranges of a level back to back after a run of the peer
(calls/s, events/s, rows/s, peak resident memory, database bytes per call, ratio to that run
of the peer); the engine alone (hold model); the trace store against a bare
sqlite3 loop; every export format; generate --jobs 1 against --jobs 2; and, in interleaved pairs
(the machine's noise moves both members of a pair alike), the models alone with 2,000 against
9,000 callers (flatness) and against the peer (the ratio to quote). Prints figures; asserts
nothing. Needs SimPy (pip install simpy). Benchmarks/instructions.py counts instructions per
call under callgrind instead: a figure for comparing builds that the noise does not move.
"""
import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Benchmarks"))
import workload  # noqa: E402

PBXSIM = os.path.join(ROOT, ".build/release/pbxsim")
BENCH = os.path.join(ROOT, ".build/release/pbxsim-bench")


def timed(cmd, **kw):
    """Runs a command; returns (wall seconds, peak RSS in MB, stdout)."""
    start = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    out, err = p.communicate()
    wall = time.perf_counter() - start
    # The child's own peak RSS (ru_maxrss of the children is a maximum over all of them).
    rss = resource_of(p)
    if p.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {err[-2000:]}")
    return wall, rss, out


_rusage = {}


def resource_of(p):
    return _rusage.get(p.pid, 0.0)


class Popen(subprocess.Popen):
    def _try_wait(self, wait_flags):
        pid, sts, ru = os.wait4(self.pid, wait_flags)
        if pid:
            _rusage[pid] = ru.ru_maxrss / 1024
        return pid, sts


subprocess.Popen = Popen


def jline(out):
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=100_000)
    ap.add_argument("--big", action="store_true", help="also 1,000,000 calls at each trace level, with both "
                    "caller ranges, and every export of the 1,000,000-call full trace")
    ap.add_argument("--only-big", action="store_true", help="only the 1,000,000-call runs and their exports "
                    "(the end-to-end table's ratio uses a 100,000-call run of the peer)")
    ap.add_argument("--big-calls", type=int, default=1_000_000, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.only_big:
        a.big = True
    print("building release binaries ...", flush=True)
    subprocess.run(["swift", "build", "-c", "release", "--product", "pbxsim"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["swift", "build", "-c", "release", "--product", "pbxsim-bench"], cwd=ROOT, check=True, capture_output=True)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    print(f"pbxsim {rev}, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores")
    tmp = tempfile.mkdtemp(prefix="pbxsim-bench-")
    n = a.calls

    # The peer.
    peer = run_peer(n)
    print(f"\nSimPy {peer['simpy']} peer, {n} calls: {peer['calls_per_s']:,} calls/s, {peer['events_per_s']:,} events/s, "
          f"{peer['peak_rss_mb']} MB (records nothing)")

    if not a.only_big:
        engine_and_parts(peer)

    # End to end.
    end_to_end(a, n, tmp, peer)
    if a.only_big:
        print(f"\n(temporary files in {tmp})")
        return
    rest(a, n, tmp, peer)
    print(f"\n(temporary files in {tmp})")


def engine_and_parts(peer):
    # The engine alone.
    _, _, out = timed([BENCH, "engine"])
    print()
    for e in jline(out):
        print(f"engine, hold model, {e['pending']:>7,} pending: {e['events_per_s']:>11,} events/s")

    # The building blocks of one failover call, alone (the floor of this design's cost per call).
    _, _, out = timed([BENCH, "parts"])
    p = jline(out)[0]
    budget = 1e9 / (10 * peer["calls_per_s"])
    print(f"one failover call's parts: INVITEs {p['call_invites_ns']:,} ns ({p['call_invites_written_ns']:,} ns with their text written, "
          f"as at --trace full), 3 INVITE transactions {3 * p['invite_transaction_ns']:,} ns, "
          f"19 engine events {19 * p['engine_event_ns']:,} ns: {p['per_call_floor_ns'] / 1000:.1f} us a call, "
          f"against {budget / 1000:.1f} us a call for 10 x the peer")


def export_all(db, calls, label):
    """Every export format of one full-trace database; each output is removed once measured
    (the 1,000,000-call jsonl alone is about 20 GB)."""
    print()
    for fmt in ("jsonl", "episodes", "csv", "pcap"):
        out_path = db + f".export-{fmt}"
        wall, rss, _ = timed([PBXSIM, "export", db, "--format", fmt, "--out", out_path])
        size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(out_path) for f in fs) \
            if os.path.isdir(out_path) else sum(os.path.getsize(x) for x in _outputs(out_path))
        print(f"export {fmt:>8}, {label}: {calls / wall:>9,.0f} calls/s  ({wall:.1f} s, {rss:.0f} MB, "
              f"{size / calls:,.0f} B/call written)", flush=True)
        _remove(out_path)


def _outputs(path):
    """The files an export to `path` wrote (csv writes PATH-calls.csv and PATH-steps.csv)."""
    d, base = os.path.split(path)
    return [os.path.join(d, f) for f in os.listdir(d) if f == base or f.startswith(base + "-") or f.startswith(base + ".")]


def _remove(path):
    if os.path.isdir(path):
        for dp, dirs, fs in os.walk(path, topdown=False):
            for f in fs:
                os.remove(os.path.join(dp, f))
            for x in dirs:
                os.rmdir(os.path.join(dp, x))
        os.rmdir(path)
    else:
        for x in _outputs(path):
            os.remove(x)


def run_peer(n):
    """One run of the SimPy peer on n calls with 2,000 callers: its JSON line."""
    _, _, out = timed([sys.executable, os.path.join(ROOT, "Benchmarks/peers/failover_simpy.py"), str(n), "2000"])
    return jline(out)[0]


def peer_now(n):
    """The peer's calls/s measured now (this machine's speed drifts by tens of percent within an
    hour, so a ratio is taken against a run of the peer next to it, not one from the start)."""
    return run_peer(n)["calls_per_s"]


def end_to_end(a, n, tmp, peer):
    """pbxsim end to end at each trace level with both caller ranges. The two ranges of a level run
    back to back, right after a run of the peer (`peer/s`, on min(calls, 100,000) calls), so that
    the machine's drift moves the two rows of a pair and their `x peer` alike."""
    print(f"\n{'callers':>8} {'trace':>6} {'calls':>9} {'calls/s':>9} {'peer/s':>7} {'x peer':>7} {'events/s':>10} "
          f"{'rows/s':>9} {'peak MB':>8} {'B/call':>7}")
    sizes = ([] if a.only_big else [n]) + ([a.big_calls] if a.big else [])
    full_db = None
    for calls in sizes:
        big_full_db = None
        yamls, events = {}, {}
        for callers in (2000, 9000):
            yamls[callers] = os.path.join(tmp, f"w-{calls}-{callers}.yaml")
            with open(yamls[callers], "w") as f:
                f.write(workload.scenario(calls, callers))
            _, _, out = timed([BENCH, "models", yamls[callers], "calls"])
            events[callers] = jline(out)[0]["events"]
        for level in ("calls", "steps", "full"):
            peer_rate = peer_now(min(calls, 100_000))
            for callers in (2000, 9000):
                db = os.path.join(tmp, f"w-{calls}-{callers}-{level}.sqlite")
                wall, rss, _ = timed([PBXSIM, "run", yamls[callers], "--db", db, "--summary-only", "--trace", level,
                                      "--max-db-size", "0"])
                con = sqlite3.connect(db)
                rows = sum(con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("call", "step", "sip_message"))
                con.close()
                size = os.path.getsize(db)
                print(f"{callers:>8} {level:>6} {calls:>9,} {calls / wall:>9,.0f} {peer_rate:>7,} {calls / wall / peer_rate:>7.2f} "
                      f"{events[callers] / wall:>10,.0f} {rows / wall:>9,.0f} {rss:>8.0f} {size / calls:>7,.0f}", flush=True)
                if level == "full" and callers == 2000 and calls == n:
                    full_db = db
                elif level == "full" and callers == 2000:
                    big_full_db = db
                else:
                    os.remove(db)
        for y in yamls.values():
            os.remove(y)
        if big_full_db:
            # Every export of the large full trace, then the database goes (12 GB at 1,000,000 calls).
            export_all(big_full_db, calls, f"{calls:,}-call full trace")
            os.remove(big_full_db)
    a.full_db = full_db


def rest(a, n, tmp, peer):

    # Flat in the size of the site: the models alone on the 2,000- and 9,000-caller workloads,
    # interleaved (this machine's noise between two runs is larger than the difference), medians.
    flat = {2000: [], 9000: []}
    flat_yaml = {}
    for callers in (2000, 9000):
        flat_yaml[callers] = os.path.join(tmp, f"flat-{callers}.yaml")
        with open(flat_yaml[callers], "w") as f:
            f.write(workload.scenario(min(n, 20_000), callers))
    for _ in range(5):
        for callers in (2000, 9000):
            _, _, out = timed([BENCH, "models", flat_yaml[callers], "calls"])
            flat[callers].append(jline(out)[0]["calls_per_s"])
    m2, m9 = sorted(flat[2000])[2], sorted(flat[9000])[2]
    print(f"\nflat: models alone at --trace calls, 5 interleaved pairs, medians: {m2:,} calls/s with 2,000 callers, "
          f"{m9:,} with 9,000 ({(m9 - m2) / m2 * 100:+.1f} %)")

    # The ratio to the peer from interleaved pairs: one run of each is at the mercy of this
    # machine's noise (15-35 %), which moves both members of a pair alike.
    ratios = []
    m = min(n, 20_000)
    for _ in range(5):
        peer_rate = peer_now(m)
        _, _, out = timed([BENCH, "models", flat_yaml[2000], "calls"])
        ratios.append((jline(out)[0]["calls_per_s"] / peer_rate, peer_rate))
    ratios.sort()
    print(f"against the peer: models alone at --trace calls over the peer, 5 interleaved pairs of {m:,} calls: "
          f"median {ratios[2][0]:.2f} x (from {ratios[0][0]:.2f} to {ratios[4][0]:.2f}; the peer "
          f"{min(r[1] for r in ratios):,} to {max(r[1] for r in ratios):,} calls/s)")

    # The store against a bare loop.
    yaml = os.path.join(tmp, "store.yaml")
    with open(yaml, "w") as f:
        f.write(workload.scenario(min(n, 20_000), 2000))
    _, _, out = timed([BENCH, "store", yaml])
    s = jline(out)[0]
    print(f"\nstore: {s['store_rows_per_s']:,} rows/s, bare sqlite3 loop: {s['bare_rows_per_s']:,} rows/s "
          f"(store/bare {s['store_vs_bare']}); with the call indexes built after the rows, as run and generate "
          f"write a new database: {s['store_indexes_after_rows_per_s']:,} rows/s (over the bare loop {s['indexes_after_vs_bare']}); "
          f"{s['store_bytes_per_call']:,} B/call stored, {s['bare_bytes_per_call']:,} B/call without the text dedupe")

    # Exports of the full-trace run.
    export_all(a.full_db, n, f"{n:,}-call full trace")

    # generate, one job against two.
    walls = {}
    for jobs in (1, 2):
        db = os.path.join(tmp, f"gen-{jobs}.sqlite")
        walls[jobs], _, _ = timed([PBXSIM, "generate", os.path.join(ROOT, "sweeps/failover.yaml"), "--runs", "2000",
                                  "--jobs", str(jobs), "--db", db])
    print(f"\ngenerate 2000 runs: --jobs 1 {walls[1]:.1f} s, --jobs 2 {walls[2]:.1f} s: {walls[1] / walls[2]:.2f}x")


if __name__ == "__main__":
    main()
