#!/usr/bin/env bash
# validate.sh: `make validate` (docs/validation.md): runs every scenario of
# scenarios/validation/ on real KVM (vcpusim kvm) and in the simulator, REPS times
# each, and prints the comparison table (vcpusim compare): real against simulated
# completion (median [min..max]) and long-wait fraction, histogram distances.
# The simulator uses the `kvm` policy when `vcpusim list policies` has it, else
# `credit` (said in the output). $SIM_SET (space-separated PATH=VALUE) adds --set
# overrides to every simulated run, to try a parameter on the whole table, e.g.
# SIM_SET="scheduler.timeslice_ms=4"; $SIM_BIN another simulator binary. With the
# kvm policy, the host's tick (CONFIG_HZ) and whether it has pause-loop exiting
# (none under kvm_pvm) are passed as scheduler.tick_hz and scheduler.ple.
# $SIM_NOISE=T:S adds the host's own activity to the simulated side (vcpusim kvm
# --sim-noise; docs/validation.md says how to derive it from the alone runs). $NICE
# runs the real side at that nice value in its own session (vcpusim kvm --nice);
# $REAL_FROM=DIR reuses the real runs of an earlier validate in DIR (to try model
# parameters against the same measurements); DIR1:DIR2:... pools the runs of several
# (each row's real median over all of them). The simulated side takes $SIM_REPS seeds
# for every row (default 100: seeds cost little, and a row's median over 15 moves by
# several percent from one seed range to another). It simulates this host as
# measured at the same time: `vcpusim calibrate` runs first (out/.../profile.json;
# with REAL_FROM, DIR's profile.json if it has one, else the built-in reference);
# $PROFILE=FILE (or "reference") names another. Usage: validate.sh VCPUSIM OUTDIR [REPS]
set -eu
bin=$1 out=$2 reps=${3:-5}
only=${ONLY:-}   # a substring: run only the scenarios whose file name has it
src=$(cd "$(dirname "$0")/.." && pwd)
if ! why=$("$bin" kvm --probe 2>&1); then
	echo "validate: cannot run the real side here: $why" >&2
	exit 1
fi
sim=${SIM_BIN:-$bin}   # another build of the simulator may be given (SIM_BIN)
extra=()
if "$sim" list policies | grep -q '^kvm '; then
	policy=kvm
	# this host's scheduler tick and pause-loop exiting, as the kvm policy's parameters
	hz=$({ zcat /proc/config.gz 2>/dev/null || cat "/boot/config-$(uname -r)" 2>/dev/null; } |
		sed -n 's/^CONFIG_HZ=//p')
	[ -n "$hz" ] && extra+=(--set "scheduler.tick_hz=$hz")
	ple=true
	[ -e /sys/module/kvm_pvm ] && ple=false   # software KVM: no pause-loop exiting
	[ "$(cat /sys/module/kvm_intel/parameters/ple_gap 2>/dev/null)" = 0 ] && ple=false
	[ "$(cat /sys/module/kvm_amd/parameters/pause_filter_count 2>/dev/null)" = 0 ] && ple=false
	extra+=(--set "scheduler.ple=$ple")
else
	policy=credit
	echo "validate: the simulator has no 'kvm' policy yet (branch policies2): simulating with 'credit' (Xen), not Linux's scheduler" >&2
fi
mkdir -p "$out"
simreps=${SIM_REPS:-100}
case "$simreps" in ''|*[!0-9]*|0) echo "validate: SIM_REPS: expected a positive integer, got '$simreps'" >&2; exit 2 ;; esac
IFS=: read -r -a real_dirs <<< "${REAL_FROM:-}"
# the host profile of the simulated side: measured now, with the real runs
profile=${PROFILE:-}
if [ -z "$profile" ]; then
	if [ -n "${REAL_FROM:-}" ]; then
		profile=reference
		[ -e "${real_dirs[0]}/profile.json" ] && profile="${real_dirs[0]}/profile.json"
	else
		read -r l1 _ < /proc/loadavg
		echo "calibrating this host (vcpusim calibrate; load average $l1)..."
		"$bin" calibrate -o "$out/profile.json" --seconds 2 --repetitions 3 2>"$out/calibrate.log" ||
			{ cat "$out/calibrate.log" >&2; exit 1; }
		grep -v "^vcpusim calibrate: AMD\|detour on every" "$out/calibrate.log" | sed 's/^/  /'
		profile="$out/profile.json"
		# other work during the calibration is measured as this host's own activity
		stolen=$(sed -n 's/.*(stolen \([0-9.]*\)% of each CPU.*/\1/p' "$out/calibrate.log")
		if awk -v s="${stolen:-0}" 'BEGIN { exit !(s > 10) }'; then
			echo "validate: warning: the calibration found ${stolen}% of each CPU taken by other work: the" \
				"machine was busy, and the simulated host is as busy (PROFILE=FILE names a quiet profile)" >&2
		fi
	fi
fi
if [ "$profile" != reference ]; then
	[ -f "$profile" ] || { echo "validate: PROFILE: no such file: $profile" >&2; exit 2; }
	profile=$(cd "$(dirname "$profile")" && pwd)/$(basename "$profile")
	[ "$profile" -ef "$out/profile.json" ] || cp "$profile" "$out/profile.json"
	extra+=(--set "host.profile=$(cd "$out" && pwd)/profile.json")
fi
read -r l1 l5 l15 procs _ < /proc/loadavg
echo "host: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, $(uname -r); load average $l1 $l5 $l15 at start"
busy=$(awk -v l="$l1" 'BEGIN { print (l > 0.5) }')
[ "$busy" = 1 ] && echo "validate: warning: the machine is busy (load $l1): real timings will be noisy" >&2
for a in ${SIM_SET:-}; do extra+=(--set "$a"); done
echo "real side: ${REAL_FROM:+runs of $REAL_FROM, by }vcpusim kvm${NICE:+ --nice $NICE}"
echo "simulator: $sim, policy $policy ${extra[*]}${SIM_NOISE:+, host noise $SIM_NOISE (sleep:compute us per pCPU)}; host profile $profile; real: $reps runs${REAL_FROM:+ from each of ${#real_dirs[@]} sets}; simulated: seeds 1..$simreps"
echo
table="$out/table.txt" events="$out/lock-preemption.txt"
: > "$events.tmp"
printf '%-26s %-12s %-22s %-22s %7s %7s %7s %9s %9s %6s %6s\n' scenario vm real "sim-$policy" sim/real \
	shareR shareS longR longS TV EMD > "$table.tmp"
for f in "$src"/scenarios/validation/*.json; do
	name=$(basename "$f" .json)
	case "$name" in *"$only"*) ;; *) continue ;; esac
	d="$out/$name"
	mkdir -p "$d"
	"$bin" kvm "$f" --sim-scenario "$d/scenario-sim.json" ${SIM_NOISE:+--sim-noise "$SIM_NOISE"}
	reals="" sims="" n=0
	if [ -z "${REAL_FROM:-}" ]; then
		for r in $(seq 1 "$reps"); do
			"$bin" kvm "$f" ${NICE:+--nice "$NICE"} -o "$d/real-$r.json" 2> >(grep -v "^vcpusim kvm: note" >&2)
			reals="$reals${reals:+,}$d/real-$r.json"
		done
	else   # the real runs of earlier validates, numbered on across the sets
		for rd in "${real_dirs[@]}"; do
			for r in $(seq 1 "$reps"); do
				[ -e "$rd/$name/real-$r.json" ] || continue   # a set of OpenMP runs only
				n=$((n + 1))
				[ "$rd/$name/real-$r.json" -ef "$d/real-$n.json" ] ||
					cp "$rd/$name/real-$r.json" "$d/real-$n.json"
				reals="$reals${reals:+,}$d/real-$n.json"
			done
		done
	fi
	for r in $(seq 1 "$simreps"); do
		"$sim" run "$d/scenario-sim.json" --quiet --set "scheduler.policy=$policy" --set "seed=$r" \
			"${extra[@]}" -o "$d/sim-$r.json"
		sims="$sims${sims:+,}$d/sim-$r.json"
	done
	rm -f "$d/waits.png"
	"$bin" compare "$reals" "$sims" --no-header | grep -v " host-noise-" >> "$table.tmp"
	"$bin" compare "$reals" "$sims" --plot "$d/waits.png" > "$d/compare.txt" 2>/dev/null ||
		echo "validate: $name: no plot (gnuplot missing?)" >&2
	grep "^  .*long holds" "$d/compare.txt" | sed "s/^  /$(printf '%-26s' "${name#??-}")/" >> "$events.tmp" || true
done
# a real OpenMP program against its captured trace (scripts/validate-omp.sh)
if [ -z "$only" ] || case omp in *"$only"*) true ;; *) false ;; esac; then
	if [ -x "$(dirname "$bin")/trace-programs/stencil" ]; then
		REAL_FROM="${REAL_FROM:-}" SIM_REPS="$simreps" "$src/scripts/validate-omp.sh" "$bin" "$(dirname "$bin")/trace-programs" \
			"$out/omp" "$reps" "$sim" ${extra[@]+"${extra[@]}"} >> "$table.tmp" ||
			echo "validate: the OpenMP rows failed" >&2
	else
		echo "validate: no trace programs next to $bin: OpenMP rows skipped" >&2
	fi
fi
mv "$table.tmp" "$table"
mv "$events.tmp" "$events"
cat "$table"
echo
# gem5's and SimGrid's figure of merit: error of the simulated completion (median of
# the simulated seeds) against the real one (median of the real runs), over every
# row that has a completion time
awk 'NR > 1 && $3 != "-" {
	r = $7; sub(/!$/, "", r); e = r - 1; n++; s += e; a += (e < 0 ? -e : e)
	if ((e < 0 ? -e : e) > m) m = (e < 0 ? -e : e)
	lim = ($1 ~ /^alone/ || $1 == "omp-alone") ? 0.05 : 0.10
	if ((e < 0 ? -e : e) > lim) { bad++; list = list " " $1 "/" $2 }
} END {
	if (n) printf "summary: %d rows with a completion time: mean error %+.1f%%, mean absolute error %.1f%%, worst %.1f%%; %d outside 10%% (alone rows: 5%%)%s\n", n, 100 * s / n, 100 * a / n, 100 * m, bad, bad ? ":" list : ""
}' "$table" | tee "$out/summary.txt"
echo
echo "lock preemption seen by the real guests, summed over the runs: long holds = the holder was preempted"
echo "in its critical section (LHP); late handoffs = a lock was granted to a waiter that was not running (LWP)"
cat "$events"
echo
echo "columns: completion ms as median [min..max] of the runs; sim/real ratio ('!' = more than 25% apart);"
echo "share = work_ms / run length; long = long waits / acquisitions; TV, EMD = wait-histogram distances."
echo "table: $table; per scenario: $out/NAME/{real,sim}-N.json and waits.png"
