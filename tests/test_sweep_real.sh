#!/usr/bin/env bash
# test_sweep_real.sh: `vcpusim sweep` and `vcpusim plot` with the real simulator
# (no runner hook): a small sweep of the lock-convoy example gives a row per run,
# identical tables at -j1 and -j2 and from merged shards, a point the simulator
# rejects is named with the sweep file, and plot draws every kind from real runs.
# Usage: bash test_sweep_real.sh VCPUSIM SOURCE_DIR
set -u
V=$(realpath "$1"); SRC=$(realpath "$2")
unset VCPUSIM_SWEEP_RUNNER
T=$(mktemp -d "${TMPDIR:-/tmp}/vcpusim-test-sweep-real.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

cat > sw.json <<END
{"base": "$SRC/scenarios/examples/lock-convoy.json",
 "vary": {"guest.spinlock": ["ticket", "pvticket"], "stop.max_ms": [1500]},
 "zip": [{"host.pcpus": [2, 4], "vms[0].vcpus": [2, 4]}],
 "replicates": 2}
END
"$V" sweep sw.json -o A -j 2 2>err || fail "real sweep: $(cat err)"
[ "$(($(wc -l < A/results.csv) - 1))" = 8 ] && [ "$(grep -c ',ok,' A/results.csv)" = 8 ] &&
	ok "4 points x 2 seeds = 8 real runs, all ok" || fail "rows: $(cat A/results.csv)"
head -1 A/results.csv | grep -q ',par.completion_ms,.*,par.long_waits,' || fail "no per-VM columns: $(head -1 A/results.csv)"
grep -q '"seed":[[:space:]]*2' A/runs/p0003_s2.json || fail "the run with seed 2 does not report seed 2"
"$V" sweep sw.json -o B -j 1 2>/dev/null || fail "-j1 sweep failed"
cmp -s A/results.csv B/results.csv && cmp -s A/summary.csv B/summary.csv && ok "real runs: -j1 and -j2 tables identical" ||
	fail "real runs: tables differ between -j1 and -j2"
"$V" sweep sw.json -o S1 --shard 1/2 2>/dev/null && "$V" sweep sw.json -o S2 --shard 2/2 2>/dev/null &&
	"$V" sweep --merge S1 S2 -o M 2>/dev/null && cmp -s A/results.csv M/results.csv && cmp -s A/summary.csv M/summary.csv &&
	ok "real runs: merged shards equal the unsharded sweep" || fail "real runs: shards/merge"
if "$V" plot A -o P > /dev/null 2>err; then
	for k in bars lines hist; do [ -s P/$k.png ] && [ -s P/$k.svg ] || fail "no $k figure from real runs"; done
	ok "plot of real runs: bars, lines, hist"
else
	fail "plot of real runs: $(cat err)"
fi

for f in "$SRC"/scenarios/sweeps/*.json "$SRC"/scenarios/asman/sweeps/*.json; do
	[ -e "$f" ] || continue
	"$V" sweep "$f" --dry-run > out 2> err && tail -1 out | grep -q "every point's scenario is valid" &&
		ok "example $(basename "$f"): $(tail -1 out)" || fail "example sweep $f: $(cat err)"
done

# censored runs (issue 14 item 10) and the overcommit column (item 12): runs cut at
# stop.max_ms say so, their completion is no value but is counted as censored
sed 's/"spinlock": "ticket"/"spinlock": "tas"/' "$SRC/scenarios/examples/lock-convoy.json" > conv-tas.json
cat > cens.json <<END
{"base": "conv-tas.json",
 "vary": {"stop.max_ms": [20, 100000], "vms[0].name": ["=1+2", "par"]}, "replicates": 2}
END
"$V" sweep cens.json -o CE 2>err; rc=$?
q="'"
ocol=$(head -1 CE/results.csv | tr ',' '\n' | grep -nx overcommit | cut -d: -f1)
scol=$(head -1 CE/results.csv | tr ',' '\n' | grep -nx stopped_at_max | cut -d: -f1)
# point 0: max 20 ms, VM "=1+2"; point 3: max 100 s, VM "par"
if [ $rc = 0 ] && [ -n "$ocol" ] && [ -n "$scol" ] &&
	[ "$(awk -F, -v c=$ocol 'NR > 1 { print $c }' CE/results.csv | sort -u)" = 2 ] &&
	[ "$(awk -F, -v c=$scol '$1 == 0 { print $c }' CE/results.csv | sort -u)" = 1 ] &&
	[ "$(awk -F, -v c=$scol '$1 == 3 { print $c }' CE/results.csv | sort -u)" = 0 ] &&
	head -1 CE/summary.csv | grep -q ',metric,runs,n,mean,sd,ci95,median,min,max,censored$' &&
	grep -qxF "0,20,\"${q}=1+2\",\"${q}=1+2.completion_ms\",2,0,,,,,,,2" CE/summary.csv &&
	grep -q '^3,100000,par,par.completion_ms,2,2,.*,0$' CE/summary.csv &&
	head -1 CE/results.csv | grep -qF ",\"${q}=1+2.completion_ms\","; then
	ok "censored runs counted, overcommit 2, a VM named =1+2 neutralised in the headers"
else
	fail "censored/overcommit: rc $rc, $(cat err; head -3 CE/results.csv; grep completion CE/summary.csv)"
fi

# ... and figures say how many runs of each group were censored (legend and title)
echo '{"base": "conv-tas.json", "vary": {"stop.max_ms": [1000, 100000], "scheduler.policy": ["credit", "gang"]}, "replicates": 2}' > pc.json
if "$V" sweep pc.json -o PC 2>err && "$V" plot PC -o PCP --kind bars --x stop.max_ms --y par.completion_ms > /dev/null 2>err &&
	head -1 PCP/bars.dat | grep -q 'credit (2 censored)' && grep -q "^title = .*4 censored: runs cut at stop.max_ms" PCP/bars.gp; then
	ok "censored runs named in the figure's legend and title"
else
	fail "censored in figures: $(cat err; head -1 PCP/bars.dat; grep '^title' PCP/bars.gp)"
fi

# a base scenario replaying a trace named relative to itself (issue 14 item 8):
# the sweep runs from any directory, and its DIR/sweep.json from anywhere
mkdir -p X work elsewhere
cp "$SRC/traces/samples/stencil-2t.vtr" X/
sed 's#"file": "[^"]*"#"file": "stencil-2t.vtr"#' "$SRC/scenarios/traces/stencil-overcommit.json" > X/scen.json
echo '{"base": "scen.json", "vary": {"scheduler.policy": ["credit", "gang"]}}' > X/sw.json
(cd work && "$V" sweep ../X/sw.json -o out 2>../err) && [ "$(grep -c ',ok,' work/out/results.csv)" = 2 ] &&
	ok "relative trace in the base scenario found from another directory" || fail "relative trace: $(cat err)"
mv work/out elsewhere/moved
(cd / && "$V" sweep "$T/elsewhere/moved/sweep.json" -o "$T/again" 2>"$T/err") &&
	cmp -s elsewhere/moved/results.csv again/results.csv && ok "a moved DIR/sweep.json reruns the same sweep from /" ||
	fail "relocated sweep.json: $(cat err)"

cat > bad.json <<END
{"base": "$SRC/scenarios/examples/lock-convoy.json", "vary": {"scheduler.policy": ["credit", "nope"]}}
END
"$V" sweep bad.json -o C 2>err; rc=$?
[ $rc = 2 ] && grep -q '^bad.json: point 1 (scheduler.policy="nope"): the scenario is invalid: scheduler.policy' err && [ ! -e C ] &&
	ok "rejected point: $(head -1 err)" || fail "bad policy: rc $rc, $(cat err)"

[ $fails = 0 ] && echo "test_sweep_real: all passed" || { echo "test_sweep_real: $fails failed"; exit 1; }
