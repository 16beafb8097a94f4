#!/usr/bin/env bash
# sweep-scaling.sh: how a sweep's runs per second scale from -j 1 to -j 2 (issue 15:
# at least 1.8x on two idle cores), by wall time, with a control that says whether
# the pool or the machine limits it. Each repetition runs, one after another: the
# sweep at -j 1; at -j 2; and two independent -j 1 sweeps of it at the same time
# (twice the runs: no pool shares anything between them, so their throughput is what
# the machine gives two processes). For each it prints wall, user and system
# seconds; then the speedups. If -j 2 scales like the control, the pool is not what
# limits it. The figures mean something only on cores no other job uses.
# Usage: sweep-scaling.sh BUILD_DIR SWEEP.json [REPETITIONS]
set -eu
build=$1 sweep=$2 reps=${3:-2}
out=$(mktemp -d "${TMPDIR:-/tmp}/vcpusim-scaling.XXXXXX")
trap 'rm -rf "$out"' EXIT
TIMEFORMAT='%R %U %S'
one() { "$build/vcpusim" sweep "$sweep" -o "$1" -j "$2" >/dev/null 2>&1; }
for r in $(seq "$reps"); do
	rm -rf "$out"/*
	t1=$( { time one "$out/a" 1; } 2>&1 )
	rm -rf "$out"/*
	t2=$( { time one "$out/a" 2; } 2>&1 )
	rm -rf "$out"/*
	tc=$( { time { one "$out/a" 1 & one "$out/b" 1; wait; }; } 2>&1 )
	echo "$t1|$t2|$tc" | awk -F'|' -v r="$r" '{
		split($1, a, " "); split($2, b, " "); split($3, c, " ")
		printf "repetition %d: -j1 %.2f s wall (%.2f user, %.2f sys); -j2 %.2f s wall (%.2f user, %.2f sys): %.2fx the runs/s; control, two -j1 sweeps at once: %.2f s wall (%.2f user, %.2f sys): %.2fx\n",
			r, a[1], a[2], a[3], b[1], b[2], b[3], a[1] / b[1], c[1], c[2], c[3], 2 * a[1] / c[1] }'
done
