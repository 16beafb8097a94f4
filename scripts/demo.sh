#!/usr/bin/env bash
# demo.sh: `make demo`: runs the built-in comparison and writes its plots.
# The lock-heavy parallel VM alone, then beside a CPU hog, under each available
# policy; prints a table and plots the spinlock wait histograms with gnuplot.
# Usage: demo.sh VCPUSIM OUTDIR
set -eu
bin=$1 out=$2
mkdir -p "$out"
policies=$("$bin" list policies | awk '/^[a-z]/ {print $1}')   # entries, not their wrapped lines
printf '%-10s %-8s %14s %11s %12s\n' policy hog completion_ms long_waits hog_work_ms
"$bin" run --quiet --set 'vms[1].workload={"kind":"io","requests":1}' -o "$out/alone.json"
for p in $policies; do
	"$bin" run --quiet --set scheduler.policy="$p" -o "$out/$p.json"
done
python3 - "$out" $policies <<'PY'
import json, sys
out, pols = sys.argv[1], sys.argv[2:]
rows = [("alone", json.load(open(f"{out}/alone.json")))] + [(p, json.load(open(f"{out}/{p}.json"))) for p in pols]
# the figure shows a readable subset; the table has every policy
shown = [(n, r) for n, r in rows if n in ("alone", "credit", "gang", "asman", "balance", "kvm")]
with open(f"{out}/hist.dat", "w") as f:
    n = max(len(r["vms"][0]["spin"]["histogram_log2_cycles"]) for _, r in shown)
    f.write("# log2_cycles " + " ".join(name for name, _ in shown) + "\n")
    for i in range(n):
        vals = []
        for _, r in shown:
            h = r["vms"][0]["spin"]["histogram_log2_cycles"]
            vals.append(str(h[i] if i < len(h) else 0))
        f.write(f"{i} " + " ".join(vals) + "\n")
for name, r in rows:
    par = r["vms"][0]
    hog = r["vms"][1]
    comp = par["completion_ms"]
    comp = f"{comp:.1f}" if comp is not None else "unfinished"
    print(f"{name:<10} {'no' if name == 'alone' else 'yes':<8} {comp:>14} {par['spin']['long_waits']:>11} {hog['work_ms']:>12.1f}")
print(f"(results JSON in {out}/)")
PY
cols=$(head -1 "$out/hist.dat" | wc -w)
{
	echo "set terminal pngcairo size 900,500 noenhanced font 'sans,10'"
	echo "set output '$out/wait_histogram.png'"
	echo "set title 'Spinlock waits of the parallel VM (built-in scenario)'"
	echo "set xlabel 'wait, log2(cycles)'; set ylabel 'acquisitions'; set logscale y; set yrange [0.8:*]"
	echo "set key top right; set grid"
	printf "plot "
	for ((c = 3; c <= cols; c++)); do
		name=$(head -1 "$out/hist.dat" | awk -v c=$c '{print $c}')
		printf "'%s' using 1:(\$%d>0?\$%d:1/0) with linespoints title '%s'" "$out/hist.dat" $((c-1)) $((c-1)) "$name"
		[ $c -lt $cols ] && printf ", "
	done
	echo
} > "$out/wait_histogram.gp"
gnuplot "$out/wait_histogram.gp"
echo "plot: $out/wait_histogram.png"
