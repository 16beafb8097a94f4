#!/usr/bin/env bash
# test_trace_8t.sh: the 8-thread samples under 2x overcommit (docs/traces.md,
# "Eight threads"). Replays traces/samples/{stencil,ep}-8t.vtr (captured with
# --clock cpu) through the shipped scenarios/traces/*-8t-{dedicated,overcommit}.json:
# an 8-vCPU VM alone on 8 pCPUs, and beside an 8-vCPU cpu_bound VM on 8 pCPUs, over
# seeds 1-10. Normalised slowdown = completion overcommitted / (2 x dedicated): 1 is
# a fair half of the machine. Checked, with thresholds set from the measurements
# of a first capture (docs/traces.md) and not changed for this one:
# - Credit: the barrier-heavy stencil's mean normalised slowdown >= 2.0 (measured
#   2.55 over seeds 1-10, 2.39 over 1-20), the embarrassingly parallel ep's <= 1.3
#   (measured 1.17 and 1.16); stencil at least 1.5 times ep's.
# - ASMan as in the paper (guest.monitor "spinlocks") sees no lock in these traces:
#   its only kernel spinlock is the futex bucket lock, held 0.25-5 us, so a long
#   wait needs the holder preempted inside that window. Identical to Credit, run
#   for run, on every seed without such a wait; at most 2 of the 10 seeds have one
#   (seed 9 with the reference host of before 2026-11-27, none with the current
#   one: the preemption inside the bucket lock is rarer on a quieter host).
# - ASMan with guest.monitor "all" (our extension: long user-level waits reported)
#   recovers at least half of the stencil's excess loss, (credit - asman) >=
#   0.5 x (credit - 1) (measured 75%), and does not slow ep down (mean <= credit's
#   x 1.05).
# Deterministic (committed samples, fixed seeds); about 1 s in the release build.
# usage: bash test_trace_8t.sh VCPUSIM SOURCE_DIR
set -u
VCPUSIM=$1
SRC=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
SEEDS="1 2 3 4 5 6 7 8 9 10"

for s in stencil ep; do
  "$VCPUSIM" run "$SRC/scenarios/traces/$s-8t-dedicated.json" -o "$tmp/$s-ded.json" >/dev/null ||
    bad "$s dedicated run failed"
  for seed in $SEEDS; do
    "$VCPUSIM" run "$SRC/scenarios/traces/$s-8t-overcommit.json" --set seed=$seed \
      -o "$tmp/$s-credit-$seed.json" >/dev/null || bad "$s credit seed $seed failed"
    "$VCPUSIM" run "$SRC/scenarios/traces/$s-8t-overcommit.json" --set seed=$seed \
      --set scheduler.policy=asman -o "$tmp/$s-asman-$seed.json" >/dev/null ||
      bad "$s asman seed $seed failed"
    "$VCPUSIM" run "$SRC/scenarios/traces/$s-8t-overcommit.json" --set seed=$seed \
      --set scheduler.policy=asman --set guest.monitor=all \
      -o "$tmp/$s-asman_all-$seed.json" >/dev/null || bad "$s asman/all seed $seed failed"
  done
done
[ $fail = 0 ] || exit 1

python3 - "$tmp" $SEEDS <<'PY' || bad "8-thread overcommit comparison"
import json, sys
tmp, seeds = sys.argv[1], sys.argv[2:]
def vm(path): return json.load(open(path))["vms"][0]
norm = {}
for s in ("stencil", "ep"):
    ded = vm(f"{tmp}/{s}-ded.json")["completion_ms"]
    for p in ("credit", "asman", "asman_all"):
        runs = [vm(f"{tmp}/{s}-{p}-{seed}.json") for seed in seeds]
        assert all(r["finished"] for r in runs), f"{s} {p}: a run did not finish"
        ns = [r["completion_ms"] / (2 * ded) for r in runs]
        norm[s, p] = sum(ns) / len(ns)
        norm[s, p, "runs"] = [r["completion_ms"] for r in runs]
        print(f"{s:8s} {p:10s} dedicated {ded:6.1f} ms  normalised slowdown mean {norm[s, p]:.2f}"
              f" (min {min(ns):.2f}, max {max(ns):.2f}) spin {sum(r['spin_ms'] for r in runs) / len(runs):7.1f} ms")
st, ep = norm["stencil", "credit"], norm["ep", "credit"]
assert st >= 2.0, f"credit: stencil mean normalised slowdown {st:.2f} < 2.0"
assert ep <= 1.3, f"credit: ep mean normalised slowdown {ep:.2f} > 1.3"
assert st >= 1.5 * ep, f"credit: stencil {st:.2f} not 1.5 times ep {ep:.2f}"
for s in ("stencil", "ep"):
    engaged = 0
    for seed in seeds:
        a, c = vm(f"{tmp}/{s}-asman-{seed}.json"), vm(f"{tmp}/{s}-credit-{seed}.json")
        if a["kernel_waits"]["spinlock"]["long_waits"] > 0:
            engaged += 1
            print(f"{s} seed {seed}: a long bucket-lock wait ({a['kernel_waits']['spinlock']['max_us']:.0f} us):"
                  f" asman switched {a['mode_switches']} times, {a['completion_ms']:.1f} ms vs credit {c['completion_ms']:.1f} ms")
        else:
            assert a["completion_ms"] == c["completion_ms"] and a["mode_switches"] == 0, \
                f"{s} seed {seed}: asman with guest.monitor spinlocks differs from credit without a long wait"
    assert engaged <= 2, f"{s}: the paper's monitor engaged on {engaged} of {len(seeds)} seeds"
sa = norm["stencil", "asman_all"]
assert st - sa >= 0.5 * (st - 1), f"asman/all recovers {(st - sa) / (st - 1):.0%} of the stencil's loss, < 50%"
assert norm["ep", "asman_all"] <= 1.05 * ep, f"asman/all slows ep: {norm['ep', 'asman_all']:.2f} vs {ep:.2f}"
print(f"asman/all recovers {(st - sa) / (st - 1):.0%} of the stencil's excess loss under credit")
PY
exit $fail
