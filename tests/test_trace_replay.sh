#!/usr/bin/env bash
# test_trace_replay.sh: replaying captured traces as a VM's workload (docs/traces.md).
# - Round trip: a stencil captured now with 2 threads and replayed alone on 2 pCPUs
#   predicts the captured duration within 10% (see below for disturbed captures).
# - The committed samples under 2x overcommit with Credit (beside an equal-size
#   cpu_bound VM), over seeds 1-5: the barrier-heavy stencil slows down more than
#   the embarrassingly parallel ep, and burns far more CPU spinning.
# - time_scale and repeat; thread/vCPU mismatch and corrupt traces exit 2 naming
#   the JSON path.
# usage: bash test_trace_replay.sh VCPUSIM SOURCE_DIR
set -u
VCPUSIM=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
PROGS=$(dirname "$VCPUSIM")/trace-programs
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }

scenario() {  # OUT TRACE VCPUS EXTRA-WORKLOAD-JSON EXTRA-VMS-JSON SPREAD
  cat >"$1" <<JSON
{"name": "t", "seed": 1, "start_spread_ms": $6, "host": {"pcpus": 2},
 "scheduler": {"policy": "credit"},
 "vms": [{"name": "app", "vcpus": $3,
          "workload": {"kind": "trace", "file": "$2"$4}}$5]}
JSON
}

# --- round trip. On this 2-core machine (itself a guest of another hypervisor)
# other load can preempt a thread for milliseconds, which the stencil's barriers
# turn into waiting: such a capture is not of an idle machine. An undisturbed
# capture of this stencil computes > 90% of threads x duration; captures below
# 85% are retried (up to 3), and if none is clean the check is skipped with a
# warning rather than judged on a busy machine. (An undisturbed capture takes
# about 0.1 s; a disturbed one can take 30 times longer, so each attempt gets 3 s.)
judged=0
for attempt in 1 2 3; do
  timeout 3 "$VCPUSIM" capture -o "$tmp/rt.vtr" --threads 2 -- "$PROGS/stencil" 60000 8000 >/dev/null 2>&1
  rc=$?
  if [ $rc -eq 124 ] || [ $rc -eq 1 ]; then
    echo "round trip attempt $attempt: capture took more than 3 s (machine busy)"
    continue
  fi
  [ $rc -eq 0 ] || { bad "capture failed with exit $rc"; break; }
  read -r captured frac < <("$VCPUSIM" trace info "$tmp/rt.vtr" --json |
    python3 -c "import json,sys; d=json.load(sys.stdin); print(d['duration_ms'], d['compute_fraction'])")
  scenario "$tmp/rt.json" "$tmp/rt.vtr" 2 "" "" 0
  "$VCPUSIM" run "$tmp/rt.json" -o "$tmp/rt-res.json" || { bad "replay failed"; break; }
  predicted=$(field "$tmp/rt-res.json" "d['vms'][0]['completion_ms']")
  err=$(python3 -c "print(round(abs($predicted - $captured) / $captured, 4))")
  echo "round trip attempt $attempt: captured $captured ms (compute fraction $frac), predicted $predicted ms, error $err"
  if python3 -c "import sys; sys.exit(0 if $frac >= 0.85 else 1)"; then
    judged=1
    python3 -c "import sys; sys.exit(0 if $err <= 0.10 else 1)" ||
      bad "round trip: predicted $predicted ms, captured $captured ms: error $err > 10%"
    break
  fi
done
[ $judged = 1 ] || echo "WARNING: round trip not judged: every capture was disturbed by other load" >&2

# The same check on the committed samples (captured on an idle machine, median of
# 5 runs, scripts/capture-samples.sh), which is deterministic and always judged.
for s in stencil histogram ep; do
  scenario "$tmp/$s-rt.json" "$SRC/traces/samples/$s-2t.vtr" 2 "" "" 0
  "$VCPUSIM" run "$tmp/$s-rt.json" -o "$tmp/$s-rt.res" || bad "$s replay failed"
  python3 - "$VCPUSIM" "$SRC/traces/samples/$s-2t.vtr" "$tmp/$s-rt.res" "$s" <<'PY' || bad "$s sample round trip"
import json, subprocess, sys
vcpusim, trace, res, name = sys.argv[1:]
cap = json.loads(subprocess.check_output([vcpusim, "trace", "info", trace, "--json"]))["duration_ms"]
pred = json.load(open(res))["vms"][0]["completion_ms"]
err = abs(pred - cap) / cap
print(f"sample {name}: captured {cap:.1f} ms, predicted {pred:.1f} ms, error {100 * err:.1f}%")
assert err <= 0.10
PY
done

# --- overcommit: barrier-heavy vs embarrassingly parallel (committed samples)
for s in stencil ep; do
  scenario "$tmp/$s-alone.json" "$SRC/traces/samples/$s-2t.vtr" 2 "" "" 0
  "$VCPUSIM" run "$tmp/$s-alone.json" -o "$tmp/$s-alone.res" || bad "$s alone failed"
  scenario "$tmp/$s-oc.json" "$SRC/traces/samples/$s-2t.vtr" 2 "" \
    ', {"name": "hog", "vcpus": 2, "workload": {"kind": "cpu_bound"}}' 30
  for seed in 1 2 3 4 5; do
    "$VCPUSIM" run "$tmp/$s-oc.json" --set seed=$seed -o "$tmp/$s-oc-$seed.res" || bad "$s overcommit seed $seed failed"
  done
done
python3 - "$tmp" <<'PY' || bad "overcommit comparison"
import json, sys
tmp = sys.argv[1]
def vm(path): return json.load(open(path))["vms"][0]
res = {}
for s in ("stencil", "ep"):
    alone = vm(f"{tmp}/{s}-alone.res")["completion_ms"]
    oc = [vm(f"{tmp}/{s}-oc-{seed}.res") for seed in range(1, 6)]
    slow = sum(v["completion_ms"] for v in oc) / len(oc) / alone
    spin = sum(v["spin_ms"] for v in oc) / len(oc)
    res[s] = (slow, spin)
    print(f"{s}: alone {alone:.1f} ms, 2x overcommit (credit, seeds 1-5): slowdown {slow:.2f}x, spin {spin:.1f} ms")
assert res["stencil"][0] > res["ep"][0], "the barrier-heavy sample should slow down more"
assert res["stencil"][1] >= 5 * res["ep"][1], "the barrier-heavy sample should spin far more"
PY

# --- options: time_scale 2 doubles, repeat 3 triples (alone, no spread)
base=$(field "$tmp/ep-alone.res" "d['vms'][0]['completion_ms']")
scenario "$tmp/scaled.json" "$SRC/traces/samples/ep-2t.vtr" 2 ', "time_scale": 2.0' "" 0
"$VCPUSIM" run "$tmp/scaled.json" -o "$tmp/scaled.res" || bad "time_scale run failed"
scenario "$tmp/rep.json" "$SRC/traces/samples/ep-2t.vtr" 2 ', "repeat": 3' "" 0
"$VCPUSIM" run "$tmp/rep.json" -o "$tmp/rep.res" || bad "repeat run failed"
python3 - "$base" "$tmp" <<'PY' || bad "time_scale/repeat"
import json, sys
base, tmp = float(sys.argv[1]), sys.argv[2]
sc = json.load(open(f"{tmp}/scaled.res"))["vms"][0]["completion_ms"]
rp = json.load(open(f"{tmp}/rep.res"))["vms"][0]["completion_ms"]
assert abs(sc / base - 2) < 0.05, f"time_scale 2: {sc} vs {base}"
assert abs(rp / base - 3) < 0.05, f"repeat 3: {rp} vs {base}"
PY

# --- relative path: resolved against the scenario's directory
mkdir -p "$tmp/sub/t"
cp "$SRC/traces/samples/ep-2t.vtr" "$tmp/sub/t/ep.vtr"
scenario "$tmp/sub/rel.json" "t/ep.vtr" 2 "" "" 0
(cd / && "$VCPUSIM" validate "$tmp/sub/rel.json") || bad "relative trace path not found from another directory"

# --- bad input
expect2() {  # SCENARIO SUBSTRING
  out=$("$VCPUSIM" run "$1" -o "$tmp/never.json" 2>&1); rc=$?
  [ $rc -eq 2 ] || bad "expected exit 2, got $rc: $out"
  echo "$out" | grep -qF -- "$2" || bad "message lacks '$2': $out"
  [ -e "$tmp/never.json" ] && bad "results written on bad input"
}
scenario "$tmp/mm.json" "$SRC/traces/samples/ep-2t.vtr" 3 "" "" 0
expect2 "$tmp/mm.json" "mm.json: vms[0].workload.file: trace has 2 threads, VM has 3 vCPUs"
head -c 100 "$SRC/traces/samples/stencil-2t.vtr" >"$tmp/cut.vtr"
scenario "$tmp/cut.json" "$tmp/cut.vtr" 2 "" "" 0
expect2 "$tmp/cut.json" "vms[0].workload.file: $tmp/cut.vtr: truncated"
scenario "$tmp/none.json" "$tmp/none.vtr" 2 "" "" 0
expect2 "$tmp/none.json" "vms[0].workload.file: $tmp/none.vtr: cannot open"
scenario "$tmp/ts.json" "$tmp/rt.vtr" 2 ', "time_scale": -1' "" 0
expect2 "$tmp/ts.json" "vms[0].workload.time_scale"
scenario "$tmp/typo.json" "$tmp/rt.vtr" 2 ', "repeats": 2' "" 0
expect2 "$tmp/typo.json" "repeats"

# --- the shipped scenarios validate
for f in "$SRC"/scenarios/traces/*.json; do
  "$VCPUSIM" validate "$f" || bad "$f does not validate"
done
exit $fail
