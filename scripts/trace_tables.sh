#!/usr/bin/env bash
# trace_tables.sh: the replay tables of docs/traces.md ("Figures" and "Eight
# threads"), from the committed samples and scenarios/traces/*.json.
#   alone     each 2-thread sample alone on 2 pCPUs (the round-trip table's
#             "predicted" column) and the 8-thread samples alone on 8
#   2x        the 2-thread samples at 2x under credit, mean over seeds 1-5, with the
#             CPU spent spinning; and under asman, asman with guest.monitor "all"
#             and gang
#   8t        the 8-thread samples at 2x: normalised slowdown (completion / (2 x
#             alone)), mean (min-max) over seeds 1-10 and the mean over 1-20
# usage: [PROFILE=FILE] scripts/trace_tables.sh VCPUSIM [alone|2x|8t]...
#   PROFILE   the simulated host profile (default: the scenarios' own, the built-in
#             reference): e.g. scenarios/hosts/loaded-2026-11-26.json gives the
#             figures of before 2026-11-27
set -eu
bin=$1
shift
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
vm() {   # FILE FIELD: the first VM's field
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["vms"][0][sys.argv[2]])' "$1" "$2"
}
pol() {   # POLICY SEED: sets args to the run's --set flags for that row
	args=(--set seed=$2)
	case $1 in
	asman) args+=(--set scheduler.policy=asman) ;;
	asman_all) args+=(--set scheduler.policy=asman --set guest.monitor=all) ;;
	gang) args+=(--set scheduler.policy=gang) ;;
	esac
}
run() {   # SCENARIO OUT [--set ...]
	local f=$1 o=$2
	shift 2
	"$bin" run "$src/scenarios/traces/$f.json" --quiet -o "$o" ${PROFILE:+--set "host.profile=$PROFILE"} "$@"
}
[ $# -gt 0 ] || set -- alone 2x 8t
for what in "$@"; do
	case $what in
	alone)
		for n in stencil histogram ep stencil-8t ep-8t; do
			run "$n-dedicated" "$tmp/a.json"
			echo "$n alone: $(vm "$tmp/a.json" completion_ms) ms"
		done ;;
	2x)
		for p in credit asman asman_all gang; do
			for n in stencil ep histogram; do
				: > "$tmp/c"
				for seed in 1 2 3 4 5; do
					pol "$p" "$seed"
					run "$n-overcommit" "$tmp/o.json" "${args[@]}"
					echo "$(vm "$tmp/o.json" completion_ms) $(vm "$tmp/o.json" spin_ms)" >> "$tmp/c"
				done
				awk -v p="$p" -v n="$n" '{ c += $1; s += $2 } END {
					printf "%-10s %-10s 2x, seeds 1-5: mean %.1f ms, spinning %.1f ms\n", p, n, c / NR, s / NR }' "$tmp/c"
			done
		done ;;
	8t)
		for n in stencil ep; do
			run "$n-8t-dedicated" "$tmp/d.json"
			ded=$(vm "$tmp/d.json" completion_ms)
			for p in credit asman asman_all; do
				: > "$tmp/c"
				for seed in $(seq 1 20); do
					pol "$p" "$seed"
					run "$n-8t-overcommit" "$tmp/o.json" "${args[@]}"
					echo "$(vm "$tmp/o.json" completion_ms) $(vm "$tmp/o.json" spin_ms)" >> "$tmp/c"
				done
				awk -v p="$p" -v n="$n" -v d="$ded" '{ x = $1 / (2 * d); a20 += x
					if (NR <= 10) { a10 += x; s10 += $2; if (NR == 1 || x < lo) lo = x; if (NR == 1 || x > hi) hi = x } }
					END { printf "%-8s %-10s alone %.1f ms: seeds 1-10 %.2f (%.2f-%.2f), 1-20 %.2f, spinning %.0f ms (1-10)\n",
						n, p, d, a10 / 10, lo, hi, a20 / 20, s10 / 10 }' "$tmp/c"
			done
		done ;;
	*) echo "trace_tables.sh: unknown table $what (alone, 2x, 8t)" >&2; exit 2 ;;
	esac
done
