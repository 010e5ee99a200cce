"""The failover workload written for SimPy, as a Python user would model it in an afternoon.

Same level of detail as pbxsim's model, every timer and retransmission an event: Poisson
arrivals (200 erlangs, 2 s mean exponential holds); for each of three silent SIP targets the
INVITE is sent and retransmitted on Timer A (T1 = 0.5 s doubling: 0.5, 1.5, 3.5 s), Timer B
(64*T1) is armed and the per-target failover timer fires at 4 s; then the call is rerouted to a
public trunk of 2,000 channels (a simpy.Resource): setup across the two telephone companies,
ringing 1 s, the hold, release. Callers are picked at random among the idle extensions of the
range; destinations are 10,000 subscriber lines (a busy line ends the call busy). It records
nothing. Prints one JSON line: calls, events, wall seconds, calls/s, events/s, peak RSS.

    python3 Benchmarks/peers/failover_simpy.py CALLS [CALLERS]
"""
import argparse
import json
import random
import resource
import time

import simpy

T1, T2 = 0.5, 4.0
INVITE_TIMEOUT = 4.0
TARGETS = 3
LATENCY = 0.010            # one-way, every path
SWITCHING = 0.100          # per telephone company
ANSWER_AFTER = 1.0
ERLANGS, MEAN_HOLD = 200.0, 2.0


class Stats:
    def __init__(self):
        self.events = 0
        self.done = 0
        self.busy = 0


def call(env, rng, trunk, stats, idle, busy_lines):
    caller = idle.pop(rng.randrange(len(idle))) if idle else None
    if caller is None:
        stats.done += 1
        return
    line = rng.randrange(10000)
    for _ in range(TARGETS):
        env.timeout(64 * T1)                     # Timer B, armed (fires harmlessly after the failover)
        stats.events += 2                        # the INVITE send, Timer B
        elapsed, interval = 0.0, T1
        while elapsed + interval < INVITE_TIMEOUT:
            yield env.timeout(interval)          # Timer A: retransmission
            stats.events += 1
            elapsed += interval
            interval *= 2                        # no T2 cap for INVITE
        yield env.timeout(INVITE_TIMEOUT - elapsed)  # the per-target failover timer
        stats.events += 1
    with trunk.request() as req:                 # reroute: seize a public channel
        yield req
        stats.events += 1
        yield env.timeout(LATENCY + SWITCHING)   # SETUP to the caller's telephone company
        yield env.timeout(SWITCHING)             # toll transit to the called one
        stats.events += 2
        if line in busy_lines:
            stats.busy += 1
        else:
            busy_lines.add(line)
            yield env.timeout(ANSWER_AFTER)      # ringing, then answer
            yield env.timeout(SWITCHING * 2)     # CONNECT back
            yield env.timeout(rng.expovariate(1 / MEAN_HOLD))  # the conversation
            stats.events += 3
            busy_lines.discard(line)
    idle.append(caller)
    stats.done += 1


def source(env, rng, trunk, stats, idle, busy_lines, calls):
    rate = ERLANGS / MEAN_HOLD
    for _ in range(calls):
        yield env.timeout(rng.expovariate(rate))
        stats.events += 1
        env.process(call(env, rng, trunk, stats, idle, busy_lines))


def count(text):
    """A positive whole number of calls or callers; 1e6 is accepted for 1,000,000."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number")
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"'{text}' is not a positive whole number")
    return int(value)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Prints one JSON line; Benchmarks/bench.py runs it beside pbxsim.")
    ap.add_argument("calls", nargs="?", type=count, default=100_000, help="calls to simulate (default 100,000)")
    ap.add_argument("callers", nargs="?", type=count, default=2000,
                    help="extensions in the caller range (default 2,000)")
    a = ap.parse_args()
    calls, callers = a.calls, a.callers
    rng = random.Random(1)
    env = simpy.Environment()
    trunk = simpy.Resource(env, capacity=2000)
    stats = Stats()
    idle = list(range(callers))
    start = time.perf_counter()
    env.process(source(env, rng, trunk, stats, idle, set(), calls))
    env.run()
    wall = time.perf_counter() - start
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peer": "simpy", "simpy": simpy.__version__, "calls": stats.done, "busy": stats.busy,
                      "events": stats.events, "wall_s": round(wall, 3), "calls_per_s": round(stats.done / wall),
                      "events_per_s": round(stats.events / wall), "peak_rss_mb": round(rss_kb / 1024, 1)}))


if __name__ == "__main__":
    main()
