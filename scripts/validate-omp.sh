#!/usr/bin/env bash
# validate-omp.sh: the real-OpenMP rows of `make validate` (docs/validation.md): a
# real OpenMP program (traces/programs/stencil.c: a barrier after every ~15 us step,
# 2 threads, libgomp with its default wait policy) run natively on this host, alone
# and beside two busy loops pinned one per CPU (the two alternately, run by run),
# against the simulator replaying the program's own captured traces (vcpusim
# capture: every run alone is captured; below) on the same host: a 2-vCPU VM
# (unpinned, like the program's threads) alone, and beside two 1-vCPU cpu_bound VMs
# pinned one per pCPU, under the kvm policy without pause-loop exiting (native
# threads spin in user space; nothing exits). The VM is marked native (its created
# thread starts as a new thread: no wake-up preemption, as measured) and starts
# at 200 ms at a random phase of the tick (start_spread_ms 4), after the busy
# loops, as the program starts after them here. The simulated side takes
# SIM_REPS seeds (default 100): the hogs row's runs spread over 2x (quartiles), so
# 15 seeds leave its median ~10% uncertain, and seeds cost nothing. Prints rows in
# the format of `vcpusim compare`'s table (docs/validation.md). REAL_FROM=DIR reuses
# the captures and real runs of an earlier validate; DIR1:DIR2:... pools several
# (each set's runs against the replay of its own traces, each set scaled to the
# sets' median speed of the program alone, see below). A --set host.profile=FILE
# among the extra arguments is the simulated host (and gives the time_scale below).
# usage: validate-omp.sh VCPUSIM PROGRAMS_DIR OUTDIR REPS [SIM_BIN] [EXTRA --set ARGS...]
set -eu
bin=$1 progs=$2 out=$3 reps=$4 sim=${5:-$1}
shift 5 2>/dev/null || shift $#
extra=("$@")
rows() {   # the table rows from $out/{real,sim}-{alone,hogs}.txt
	for case in alone hogs; do
		python3 - "$out/real-$case.txt" "$out/sim-$case.txt" "omp-$case" <<'PY'
import statistics, sys
real = [float(x) for x in open(sys.argv[1]).read().split()]
sim = [float(x) for x in open(sys.argv[2]).read().split()]
def fmt(v):
    return "%.1f [%.0f..%.0f]" % (statistics.median(v), min(v), max(v))
ratio = statistics.median(sim) / statistics.median(real)
print("%-26s %-12s %-22s %-22s %8.2f%s" % (sys.argv[3], "omp", fmt(real), fmt(sim), ratio,
      "!" if abs(ratio - 1) > 0.25 else " "))
PY
	done
}
case "${REAL_FROM:-}" in *:*)
	# several sets: each on its own (its trace, its runs), then pooled
	mkdir -p "$out"
	for c in real-alone real-hogs sim-alone sim-hogs; do : > "$out/$c.txt"; done
	k=0
	sets=()
	IFS=: read -r -a dirs <<< "$REAL_FROM"
	for d in "${dirs[@]}"; do
		k=$((k + 1))
		[ -e "$d/omp/real-hogs.txt" ] || { echo "validate-omp: $d has no OpenMP runs: left out" >&2; continue; }
		OMP_ROWS=0 REAL_FROM="$d" "$0" "$bin" "$progs" "$out/set-$k" "$reps" "$sim" "${extra[@]}"
		sets+=("$out/set-$k")
	done
	# The program's own speed drifts up to 2x over a day on this machine (its alone
	# runs took 36-43 ms in some sets, 56-68 in others), and a pool of sets of both
	# kinds has its median in the gap between them, where a small change of weight
	# moves it a lot. So each set's runs, real and simulated alike, are scaled to the
	# median speed of the sets (its real alone median to the median of those) before
	# they are pooled: the pooled ratio is then made of the sets' own ratios.
	python3 - "$out" "${sets[@]}" <<'PY'
import statistics, sys
out, sets = sys.argv[1], sys.argv[2:]
val = lambda f: [float(x) for x in open(f).read().split()]
meds = {s: statistics.median(val(f"{s}/real-alone.txt")) for s in sets}
ref = statistics.median(meds.values())
for c in ("real-alone", "real-hogs", "sim-alone", "sim-hogs"):
    with open(f"{out}/{c}.txt", "w") as f:
        for s in sets:
            f.write("".join(f"{x * ref / meds[s]:.3f}\n" for x in val(f"{s}/{c}.txt")))
PY
	rows
	exit 0
esac
profile="$(dirname "$0")/../scenarios/hosts/reference.json"
for a in "${extra[@]}"; do
	case "$a" in host.profile=*) profile=${a#host.profile=} ;; esac
done
prog="$progs/stencil"
args=(60000 2000)
mkdir -p "$out"
[ -x "$prog" ] || { echo "validate-omp: $prog missing (build the trace programs)" >&2; exit 1; }
hogs=()
stop_hogs() { for h in "${hogs[@]}"; do { kill "$h" && wait "$h"; } 2>/dev/null || true; done; hogs=(); }
trap stop_hogs EXIT
ms_of() {   # runs the program once (under the command given, if any: a capture);
	    # prints its own run time in ms (main() to the end of its work, the
	    # span its trace covers: traces/programs/stencil.c)
	local line
	line=$(OMP_NUM_THREADS=2 timeout 120 "$@" "$prog" "${args[@]}")
	line=${line##*, }
	echo "${line% ms}"
}
if [ -n "${REAL_FROM:-}" ] && [ -e "$REAL_FROM/omp/real-hogs.txt" ]; then
	# the real runs and traces of an earlier validate ($REAL_FROM/omp)
	for f in "$REAL_FROM"/omp/alone-*.vtr "$REAL_FROM"/omp/stencil.vtr "$REAL_FROM"/omp/real-alone.txt "$REAL_FROM"/omp/real-hogs.txt; do
		[ -e "$f" ] || continue
		[ "$f" -ef "$out/$(basename "$f")" ] || cp "$f" "$out/"
	done
	reuse=1
else
	reuse=0
fi
# The traces. The program's own speed changes from run to run here, up to 1.6x
# (this host is itself a virtual machine: one of its CPUs at times runs the
# program's steps 1.6x slower than the other, and not in every run), which no host
# profile describes. So every real run alone is captured (vcpusim capture, whose
# TSC stamps cost nothing measurable; the program's own run-time line passes
# through), and the simulated seed r replays the trace of real run
# ((r - 1) mod REPS) + 1: both sides then hold the same runs' speeds, and the rows
# compare the scheduling, not the machine's mood. A set captured before this
# (one trace, stencil.vtr: the least-compute of 3 captures) replays that one.
start_hogs() {   # two busy loops, one pinned to each CPU
	for c in 0 1; do
		taskset -c "$c" bash -c 'while :; do :; done' </dev/null >/dev/null 2>&1 &
		hogs+=($!)
	done
	sleep 0.2
}
if [ "$reuse" = 0 ]; then
	# run r alone (captured), then run r beside the busy loops, a second apart
	: > "$out/real-alone.txt"
	: > "$out/real-hogs.txt"
	for r in $(seq 1 "$reps"); do
		ms_of "$bin" capture -o "$out/alone-$r.vtr" --threads 2 -- >> "$out/real-alone.txt" 2>>"$out/capture.log"
		start_hogs
		ms_of >> "$out/real-hogs.txt"
		stop_hogs
	done
fi
traces=()
for r in $(seq 1 "$reps"); do
	[ -e "$out/alone-$r.vtr" ] && traces+=("alone-$r.vtr")
done
[ "${#traces[@]}" -gt 0 ] || traces=(stencil.vtr)
[ -e "$out/${traces[0]}" ] || { echo "validate-omp: no trace in $out" >&2; exit 1; }
# A trace stamped on the TSC (capture's default clock) records wall intervals, so
# its compute already holds this host's own activity (interrupts, kernel threads)
# at the capture; the simulated host adds its activity again. The replay removes
# the expected share once: time_scale = 1 - the reference profile's stolen
# fraction (rate x mean length of both activity classes: docs/traces.md, Replay) of
# the simulated host's profile.
scale=$(python3 -c 'import json,sys; a=json.load(open(sys.argv[1]))["activity"]; print("%.4f" % (1 - sum(a[k]["rate_hz"] * a[k]["mean_ns"] * 1e-9 for k in ("irq", "task"))))' \
	"$profile")
omp_vm='{"name": "omp", "vcpus": 2, "native": true, "start_ms": 200, "workload": {"kind": "trace", "file": "'"${traces[0]}"'", "time_scale": '"$scale"'}}'
cat > "$out/omp-alone.json" <<EOF
{"name": "omp-alone", "start_spread_ms": 4, "host": {"pcpus": 2, "ghz": 2.6},
 "scheduler": {"policy": "kvm", "ple": false},
 "vms": [$omp_vm]}
EOF
cat > "$out/omp-hogs.json" <<EOF
{"name": "omp-hogs", "start_spread_ms": 4, "host": {"pcpus": 2, "ghz": 2.6},
 "scheduler": {"policy": "kvm", "ple": false},
 "vms": [$omp_vm,
         {"name": "hog", "native": true, "affinity": [0], "workload": {"kind": "cpu_bound"}},
         {"name": "hog1", "native": true, "affinity": [1], "workload": {"kind": "cpu_bound"}}]}
EOF
for case in alone hogs; do
	: > "$out/sim-$case.txt"
	for r in $(seq 1 "${SIM_REPS:-100}"); do
		"$sim" run "$out/omp-$case.json" --quiet --set "seed=$r" \
			--set "vms[0].workload.file=${traces[$(((r - 1) % ${#traces[@]}))]}" "${extra[@]}" -o "$out/sim-$case-$r.json"
		python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); v=[x for x in r["vms"] if x["name"]=="omp"][0]; print(v["completion_ms"] if v["completion_ms"] is not None else "nan")' "$out/sim-$case-$r.json" >> "$out/sim-$case.txt"
	done
done
[ "${OMP_ROWS:-1}" = 0 ] || rows
