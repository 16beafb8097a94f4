#!/usr/bin/env bash
# test_validate_script.sh: scripts/validate.sh's bookkeeping (docs/validation.md,
# "On your host"), without real runs: REAL_FROM=DIR1:DIR2 pools the runs of two
# sets (numbered on across them), SIM_REPS sets the simulated seeds of every row,
# PROFILE names the simulated host (and a missing one is refused, exit 2), and
# the summary line is the mean and mean absolute error over the rows. The "real"
# runs here are simulated results standing in (compare reads either). validate.sh
# needs a usable /dev/kvm even then (it checks first): skipped otherwise.
# usage: bash test_validate_script.sh VCPUSIM SOURCE_DIR
set -u
bin=$1 src=$2
"$bin" kvm --probe >/dev/null 2>&1 || { echo "skipped: /dev/kvm is not usable here (validate.sh needs it)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
sc=01-alone-locks
"$bin" kvm "$src/scenarios/validation/$sc.json" --sim-scenario "$tmp/s.json"
for set in a b; do
	mkdir -p "$tmp/$set/$sc"
	for r in 1 2; do
		seed=$([ $set = a ] && echo $((100 + r)) || echo $((200 + r)))
		"$bin" run "$tmp/s.json" --quiet --set scheduler.policy=kvm --set "seed=$seed" -o "$tmp/$set/$sc/real-$r.json"
	done
done
out=$tmp/out
REAL_FROM="$tmp/a:$tmp/b" SIM_REPS=3 PROFILE=reference ONLY=alone-locks \
	bash "$src/scripts/validate.sh" "$bin" "$out" 2 > "$tmp/log" 2>&1 && ok || bad "validate.sh failed: $(tail -5 "$tmp/log")"
[ -e "$out/$sc/real-4.json" ] && [ ! -e "$out/$sc/real-5.json" ] && ok || bad "two sets of 2 runs pooled as real-1..4"
cmp -s "$tmp/b/$sc/real-2.json" "$out/$sc/real-4.json" && ok || bad "the second set's runs numbered after the first's"
[ -e "$out/$sc/sim-3.json" ] && [ ! -e "$out/$sc/sim-4.json" ] && ok || bad "SIM_REPS=3: seeds 1..3"
grep -q "host profile reference; real: 2 runs from each of 2 sets; simulated: seeds 1..3" "$tmp/log" && ok || bad "the header says what was pooled"
grep -q "^summary: 1 rows with a completion time: mean error" "$out/summary.txt" && ok || bad "summary line: $(cat "$out/summary.txt" 2>/dev/null)"
# the real median is over all four runs
python3 - "$out" "$sc" <<'PY' && ok || bad "the real median pools both sets"
import glob, json, statistics, sys
out, sc = sys.argv[1], sys.argv[2]
real = [json.load(open(f))["vms"][0]["completion_ms"] for f in glob.glob(f"{out}/{sc}/real-*.json")]
row = [l for l in open(f"{out}/table.txt") if l.startswith("alone-locks")][0].split()
assert len(real) == 4 and abs(float(row[2]) - statistics.median(real)) < 0.051, (row, real)
PY
# a profile that does not exist is refused before anything runs
PROFILE="$tmp/none.json" REAL_FROM="$tmp/a" ONLY=alone-locks bash "$src/scripts/validate.sh" "$bin" "$tmp/o2" 2 > "$tmp/log2" 2>&1
[ $? = 2 ] && grep -q "PROFILE: no such file" "$tmp/log2" && ok || bad "a missing PROFILE: exit 2"
SIM_REPS=x REAL_FROM="$tmp/a" bash "$src/scripts/validate.sh" "$bin" "$tmp/o3" 2 > "$tmp/log3" 2>&1
[ $? = 2 ] && grep -q "SIM_REPS: expected a positive integer" "$tmp/log3" && ok || bad "a bad SIM_REPS: exit 2"
# a set's own profile is used when it has one
cp "$src/scenarios/hosts/reference.json" "$tmp/a/profile.json"
REAL_FROM="$tmp/a" SIM_REPS=1 ONLY=alone-locks bash "$src/scripts/validate.sh" "$bin" "$tmp/o4" 2 > "$tmp/log4" 2>&1
grep -q "host profile $tmp/a/profile.json" "$tmp/log4" && [ -e "$tmp/o4/profile.json" ] && ok || bad "REAL_FROM's profile.json is used: $(grep 'host profile' "$tmp/log4")"
# The OpenMP rows pooled (scripts/validate-omp.sh): each set's runs, real and
# simulated, are scaled to the sets' median speed of the program alone before they
# are pooled. Two fake sets, the program alone at 40 and at 80 ms (the sample trace
# replayed for both): the median is 60, so every pooled real run is 60 and 150 ms,
# and each set's simulated runs are scaled by 1.5 and by 0.75.
progs=$(dirname "$bin")/trace-programs
if [ -x "$progs/stencil" ]; then
	for set in fa:40:100 fb:80:200; do
		IFS=: read -r d a h <<< "$set"
		mkdir -p "$tmp/$d/omp"
		cp "$src/traces/samples/stencil-2t.vtr" "$tmp/$d/omp/stencil.vtr"
		for i in $(seq 15); do echo "$a"; done > "$tmp/$d/omp/real-alone.txt"
		for i in $(seq 15); do echo "$h"; done > "$tmp/$d/omp/real-hogs.txt"
	done
	REAL_FROM="$tmp/fa:$tmp/fb" SIM_REPS=2 bash "$src/scripts/validate-omp.sh" "$bin" "$progs" "$tmp/omp" 15 \
		> "$tmp/omp.log" 2>&1 || bad "validate-omp.sh pooled: $(cat "$tmp/omp.log")"
	python3 - "$tmp/omp" <<'PY' && ok || bad "the pooled OpenMP runs are scaled per set"
import sys
o = sys.argv[1]
v = lambda f: [float(x) for x in open(f).read().split()]
assert v(f"{o}/real-alone.txt") == [60.0] * 30, v(f"{o}/real-alone.txt")
assert v(f"{o}/real-hogs.txt") == [150.0] * 30, v(f"{o}/real-hogs.txt")
for c in ("sim-alone", "sim-hogs"):
    want = [round(x * 1.5, 3) for x in v(f"{o}/set-1/{c}.txt")] + [round(x * 0.75, 3) for x in v(f"{o}/set-2/{c}.txt")]
    assert len(want) == 4 and v(f"{o}/{c}.txt") == want, (c, v(f"{o}/{c}.txt"), want)
PY
	# A set whose every run alone was captured (alone-N.vtr): simulated seed r
	# replays the trace of real run ((r - 1) mod N) + 1, in both rows. Two
	# different traces: seeds 1 and 3 replay the first, seed 2 the second.
	mkdir -p "$tmp/fc/omp"
	cp "$src/traces/samples/stencil-2t.vtr" "$tmp/fc/omp/alone-1.vtr"
	cp "$src/traces/samples/histogram-2t.vtr" "$tmp/fc/omp/alone-2.vtr"
	printf '40\n41\n' > "$tmp/fc/omp/real-alone.txt"
	printf '100\n101\n' > "$tmp/fc/omp/real-hogs.txt"
	REAL_FROM="$tmp/fc" SIM_REPS=3 bash "$src/scripts/validate-omp.sh" "$bin" "$progs" "$tmp/ompc" 2 \
		> "$tmp/ompc.log" 2>&1 || bad "validate-omp.sh with a trace per run: $(cat "$tmp/ompc.log")"
	python3 - "$tmp/ompc" <<'PY' && ok || bad "each simulated seed replays the trace of its real run"
import json, sys
o = sys.argv[1]
for c in ("alone", "hogs"):
    w = [json.load(open(f"{o}/sim-{c}-{r}.json"))["vms"][0] for r in (1, 2, 3)]
    # the two samples differ in work by far more than the seeds do
    assert abs(w[0]["work_ms"] - w[2]["work_ms"]) < 0.02 * w[0]["work_ms"], (c, w[0]["work_ms"], w[2]["work_ms"])
    assert abs(w[0]["work_ms"] - w[1]["work_ms"]) > 0.2 * w[0]["work_ms"], (c, w[0]["work_ms"], w[1]["work_ms"])
PY
	# The real side itself (no REAL_FROM), 2 runs: each run alone is captured, and
	# the runs beside the busy loops alternate with them; each seed replays the
	# trace of its run (work_ms = the trace's compute x time_scale, to 2%).
	OMP_ROWS=0 SIM_REPS=2 bash "$src/scripts/validate-omp.sh" "$bin" "$progs" "$tmp/ompr" 2 > "$tmp/ompr.log" 2>&1 ||
		bad "validate-omp.sh's real side: $(cat "$tmp/ompr.log")"
	python3 - "$tmp/ompr" "$bin" <<'PY' && ok || bad "validate-omp.sh captures every run alone and pairs the seeds with them"
import json, math, subprocess, sys
o, b = sys.argv[1], sys.argv[2]
v = lambda f: [float(x) for x in open(f).read().split()]
alone, hogs = v(f"{o}/real-alone.txt"), v(f"{o}/real-hogs.txt")
assert len(alone) == 2 and len(hogs) == 2 and all(x > 0 and math.isfinite(x) for x in alone + hogs), (alone, hogs)
scale = json.load(open(f"{o}/omp-alone.json"))["vms"][0]["workload"]["time_scale"]
for r in (1, 2):
    info = json.loads(subprocess.run([b, "trace", "info", "--json", f"{o}/alone-{r}.vtr"], capture_output=True, check=True).stdout)
    # the trace's span is the run's own time, as printed by the program
    assert abs(info["duration_ms"] - alone[r - 1]) < 0.02 * alone[r - 1] + 0.5, (info["duration_ms"], alone[r - 1])
    for c in ("alone", "hogs"):
        w = json.load(open(f"{o}/sim-{c}-{r}.json"))["vms"][0]["work_ms"]
        assert abs(w - info["compute_ms"] * scale) < 0.02 * w, (c, r, w, info["compute_ms"] * scale)
PY
else
	echo "note: no trace programs next to $bin: the OpenMP pooling is not checked"
fi
echo "test_validate_script: $pass passed, $fail failed"
[ "$fail" = 0 ]
