#!/usr/bin/env bash
# sweep-cost.sh: the fixed per-run cost of a sweep (issue 15), by CPU time. Runs
# SWEEP at -j 1 into a fresh directory, then the same runs one after another in one
# process (`vcpusim-bench runs DIR`); the difference is what the sweep machinery
# costs (processes, scenario and result files, tables). Also the runs per second at
# -j 2 against -j 1 (wall time: meaningful on otherwise idle cores only).
# Usage: sweep-cost.sh BUILD_DIR OUTDIR SWEEP.json...
set -eu
build=$1 out=$2; shift 2
TIMEFORMAT='%R %U %S'
for sw in "$@"; do
	name=$(basename "$sw" .json)
	rm -rf "$out/$name-j1" "$out/$name-j2"
	mkdir -p "$out"
	t1=$( { time "$build/vcpusim" sweep "$sw" -o "$out/$name-j1" -j 1 >/dev/null 2>&1; } 2>&1 )
	t2=$( { time "$build/vcpusim" sweep "$sw" -o "$out/$name-j2" -j 2 >/dev/null 2>&1; } 2>&1 )
	base=$("$build/vcpusim-bench" runs "$out/$name-j1")
	runs=$(($(wc -l < "$out/$name-j1/results.csv") - 1))
	echo "$t1|$t2|$base|$runs" | awk -F'|' -v name="$name" '{
		split($1, a, " "); split($2, b, " "); split($3, c, " ")
		cpu = a[2] + a[3]; inproc = c[6]
		printf "%s: %d runs; sweep -j1 %.2f s CPU (%.2f s wall), in one process %.2f s CPU: fixed cost %.1f%% of the sweep CPU; -j2 %.2f s wall: %.2fx the runs/s of -j1\n",
			name, $4, cpu, a[1], inproc, 100 * (cpu - inproc) / cpu, b[1], a[1] / b[1] }'
done
