#!/usr/bin/env python3
"""Instructions per failover call, counted by valgrind's callgrind: a figure the machine's noise
does not move, for comparing two builds of the models.

    python3 Benchmarks/instructions.py                       # the release build, --trace calls
    python3 Benchmarks/instructions.py --levels calls,full   # more trace levels
    python3 Benchmarks/instructions.py --bench /tmp/old/pbxsim-bench --no-build   # another build

Runs `pbxsim-bench models` on the failover workload of Benchmarks/workload.py (2,000 callers)
with N and 2N calls under callgrind and prints the difference divided by N: the instructions one
more call costs, without the start-up (loading the scenario, building the site). The binary is
copied and stripped of its debug information first (valgrind 3.19 cannot read the DWARF that
Swift 6.3 writes). The wall-clock rates are bench.py's; this counts work, not time: a change
that saves instructions but misses the cache more can still be slower (and the other way round).
Prints figures; asserts nothing.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "Benchmarks"))
import workload  # noqa: E402


def collected(binary, scenario, level):
    """Instructions the whole run of the models executed (callgrind's `Collected`)."""
    # Swift seeds its hash function per process: dictionaries probe differently from run to run,
    # about 1 % of the count. A fixed seed makes the count the same on every run.
    env = dict(os.environ, SWIFT_DETERMINISTIC_HASHING="1")
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", binary, "models",
                        scenario, level], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"valgrind failed ({p.returncode}): {p.stderr[-1500:]}")
    m = re.search(r"Collected : (\d+)", p.stderr)
    if not m:
        sys.exit(f"no instruction count in valgrind's output: {p.stderr[-1500:]}")
    return int(m.group(1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=1000, help="N: runs N and 2N calls (default 1000)")
    ap.add_argument("--levels", default="calls", help="trace levels, comma-separated (calls, steps, full)")
    ap.add_argument("--bench", default=os.path.join(ROOT, ".build/release/pbxsim-bench"),
                    help="the pbxsim-bench binary to count (default: the release build)")
    ap.add_argument("--no-build", action="store_true", help="do not build the release binary first")
    ap.add_argument("--callers", default="2000",
                    help="caller ranges (extensions), comma-separated: 2000,9000 counts both and prints their"
                         " ratio, the flatness of the cost per call in instructions (default 2000)")
    a = ap.parse_args()
    if a.calls < 100:
        sys.exit("--calls: at least 100 (the difference of two runs must dominate their noise of a few thousand instructions)")
    levels = [x.strip() for x in a.levels.split(",") if x.strip()]
    for lv in levels:
        if lv not in ("calls", "steps", "full"):
            sys.exit(f"--levels: unknown trace level '{lv}' (calls, steps or full)")
    try:
        callers = [int(x) for x in a.callers.split(",") if x.strip()]
    except ValueError:
        sys.exit(f"--callers: expected numbers of extensions separated by commas, got '{a.callers}'")
    if not callers or any(c < 1 or c > 89999 for c in callers):
        sys.exit(f"--callers: each range from 1 to 89,999 extensions (the workload numbers them from 10000, five digits), got '{a.callers}'")
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install -y valgrind)")
    if not a.no_build:
        subprocess.run(["swift", "build", "-c", "release", "--product", "pbxsim-bench"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    if not os.path.exists(a.bench):
        sys.exit(f"--bench: no such file: {a.bench}")
    with tempfile.TemporaryDirectory() as tmp:
        binary = os.path.join(tmp, "pbxsim-bench")
        shutil.copy(a.bench, binary)
        subprocess.run(["strip", "-g", binary], check=True)
        for lv in levels:
            counts = {}
            for c in callers:
                small, large = os.path.join(tmp, f"n-{c}.yaml"), os.path.join(tmp, f"2n-{c}.yaml")
                with open(small, "w") as f:
                    f.write(workload.scenario(a.calls, c))
                with open(large, "w") as f:
                    f.write(workload.scenario(2 * a.calls, c))
                i1, i2 = collected(binary, small, lv), collected(binary, large, lv)
                per_call = (i2 - i1) / a.calls
                counts[c] = per_call
                print(json.dumps({"bench": "instructions", "trace": lv, "callers": c, "calls": [a.calls, 2 * a.calls],
                                  "instructions": [i1, i2], "per_call": round(per_call)}))
                print(f"  {lv:>5}, {c:,} callers: {per_call:,.0f} instructions per failover call", file=sys.stderr)
            if len(callers) > 1:
                base = counts[callers[0]]
                for c in callers[1:]:
                    print(f"  {lv:>5}: {c:,} callers against {callers[0]:,}: {100 * (counts[c] - base) / base:+.1f} % instructions per call",
                          file=sys.stderr)

if __name__ == "__main__":
    main()
