#!/usr/bin/env bash
# test_sweep_workers.sh: the sweep's long-lived workers (sweep/pool.c), with the
# real simulator: every run's results equal `vcpusim run` of its kept scenario
# (wall_s aside); a worker killed by a signal fails only its run and the next run
# gets a new worker; a run over the timeout fails alone; a sweep killed with
# SIGKILL leaves no worker behind and resumes to the same tables.
# Usage: bash test_sweep_workers.sh VCPUSIM SOURCE_DIR
set -u
V=$(realpath "$1"); SRC=$(realpath "$2")
unset VCPUSIM_SWEEP_RUNNER
T=$(mktemp -d "${TMPDIR:-/tmp}/vcpusim-test-sweep-workers.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }
no_wall() { grep -v '"wall_s":' "$1"; }

cat > sw.json <<END
{"base": "$SRC/scenarios/examples/lock-convoy.json",
 "vary": {"scheduler.policy": ["credit", "gang", "asman"], "stop.max_ms": [300, 2000]},
 "replicates": 3}
END
"$V" sweep sw.json -o A -j 2 2>err || fail "sweep: $(cat err)"
bad=0
for s in A/runs/*.scenario.json; do
	n=${s%.scenario.json}
	"$V" run "$s" -o one.json 2>/dev/null || { bad=$((bad + 1)); continue; }
	[ "$(no_wall one.json)" = "$(no_wall "$n.json")" ] || bad=$((bad + 1))
done
[ $bad = 0 ] && [ "$(ls A/runs/*.scenario.json | wc -l)" = 18 ] &&
	ok "18 runs in 2 workers equal vcpusim run of their scenarios one by one" || fail "$bad runs differ from vcpusim run"

# trace replays: a worker reads a trace once and keeps it for its next runs
# (workloads/trace.c); each run still equals vcpusim run of its scenario
cat > tr.json <<END
{"base": "$SRC/scenarios/traces/stencil-overcommit.json",
 "vary": {"scheduler.policy": ["credit", "gang"], "vms[0].workload.time_scale": [1, 2]}, "replicates": 3}
END
"$V" sweep tr.json -o TR -j 2 2>err || fail "trace sweep: $(cat err)"
bad=0
for s in TR/runs/*.scenario.json; do
	n=${s%.scenario.json}
	"$V" run "$s" -o one.json 2>/dev/null || { bad=$((bad + 1)); continue; }
	[ "$(no_wall one.json)" = "$(no_wall "$n.json")" ] || bad=$((bad + 1))
done
[ $bad = 0 ] && [ "$(ls TR/runs/*.scenario.json | wc -l)" = 12 ] &&
	ok "12 trace replays with the worker's trace cache equal vcpusim run one by one" || fail "$bad trace runs differ"

# runs long enough to be caught running
cat > long.json <<END
{"base": "$SRC/scenarios/examples/lock-convoy.json",
 "vary": {"stop.max_ms": [200, 100000000, 300, 400, 500, 600]},
 "zip": [{"vms[0].workload.iterations": [100000000]}],
 "timeout_s": 2}
END
# the long point times out alone; the others finish in the meantime
"$V" sweep long.json -o L -j 2 2>err; rc=$?
[ $rc = 1 ] && grep -q 'timed out after 2 s' L/runs/p0001_s1.failed && [ "$(grep -c ',ok,' L/results.csv)" = 5 ] &&
	ok "a run over timeout_s fails alone (exit 1, 5 of 6 ok)" || fail "timeout: rc $rc, $(cat err)"

# a worker killed mid-run (SIGSEGV; under ASan its handler reports it and exits 1):
# its run fails, the others run in new workers
"$V" sweep long.json -o K -j 2 --timeout 600 2>err &
pid=$!
wk=
for _ in $(seq 100); do
	for c in $(ps -o pid= --ppid $pid 2>/dev/null); do
		# the worker busy with the long run: it has used CPU for a while
		t=$(ps -o times= -p "$c" 2>/dev/null | tr -d ' '); [ -n "$t" ] && [ "$t" -ge 1 ] && wk=$c
	done
	[ -n "$wk" ] && [ "$(ls K/runs 2>/dev/null | grep -c '_s1\.json$')" -ge 5 ] && break
	sleep 0.1
done
[ -n "$wk" ] && kill -SEGV "$wk"
wait $pid; rc=$?
[ $rc = 1 ] && grep -qE 'signal 11|AddressSanitizer: SEGV' K/runs/p0001_s1.failed && [ "$(grep -c ',ok,' K/results.csv)" = 5 ] &&
	ok "a worker killed by SIGSEGV fails its run only (exit 1, 5 of 6 ok)" ||
	fail "worker crash: rc $rc, worker '$wk', $(cat err; cat K/runs/*.failed 2>/dev/null)"

# SIGKILL of the sweep: its workers die with it; a resume gives the same tables
cat > many.json <<END
{"base": "$SRC/scenarios/examples/lock-convoy.json",
 "vary": {"scheduler.policy": ["credit", "gang"], "stop.max_ms": [3000, 6000, 9000]},
 "replicates": 6}
END
"$V" sweep many.json -o B -j 2 2>/dev/null || fail "uninterrupted sweep"
"$V" sweep many.json -o C -j 2 2>/dev/null &
pid=$!
for _ in $(seq 200); do
	[ "$(ls C/runs 2>/dev/null | grep -c '_s[0-9]*\.json$')" -ge 5 ] && break
	sleep 0.02
done
kids=$(ps -o pid= --ppid $pid | tr '\n' ' ')
kill -KILL $pid; wait $pid 2>/dev/null
sleep 0.5
left=0
for k in $kids; do # alive and not a zombie (a dead worker not yet reaped by init)
	st=$(ps -o stat= -p "$k" 2>/dev/null)
	[ -n "$st" ] && [ "${st#Z}" = "$st" ] && left=$((left + 1))
done
n=$(ls C/runs | grep -c '_s[0-9]*\.json$')
[ $left = 0 ] && ok "SIGKILL after $n runs: no worker left (of: $kids)" || fail "$left workers survived the sweep"
"$V" sweep many.json -o C -j 2 2>/dev/null && cmp -s B/results.csv C/results.csv && cmp -s B/summary.csv C/summary.csv &&
	! ls C/runs | grep -q 'part\|tmp' && ok "resumed after SIGKILL: same tables, no partial files" || fail "resume after SIGKILL differs"

[ $fails = 0 ] && echo "test_sweep_workers: all passed" || { echo "test_sweep_workers: $fails failed"; exit 1; }
