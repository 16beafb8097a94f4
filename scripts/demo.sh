#!/usr/bin/env bash
# demo.sh: `make demo`: runs the built-in comparison and writes its plots.
# The lock-heavy parallel VM alone, then beside a CPU hog, under each available
# policy, over seeds 1..SEEDS (default 10: whether a lock convoy forms is chance, so
# one seed says little); prints a table of medians and plots the spinlock wait
# histograms (summed over the seeds) with gnuplot.
# Usage: [SEEDS=n] demo.sh VCPUSIM OUTDIR
set -eu
bin=$1 out=$2
seeds=${SEEDS:-10}
case $seeds in ''|*[!0-9]*|0) echo "demo.sh: SEEDS must be a positive integer" >&2; exit 2 ;; esac
mkdir -p "$out"
policies=$("$bin" list policies | awk '/^[a-z]/ {print $1}')   # entries, not their wrapped lines
for s in $(seq 1 "$seeds"); do
	"$bin" run --quiet --set seed="$s" --set 'vms[1].workload={"kind":"io","requests":1}' -o "$out/alone-$s.json"
	for p in $policies; do
		"$bin" run --quiet --set seed="$s" --set scheduler.policy="$p" -o "$out/$p-$s.json"
	done
done
python3 - "$out" "$seeds" $policies <<'PY'
import json, statistics, sys
out, seeds, pols = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
runs = {n: [json.load(open(f"{out}/{n}-{s}.json")) for s in range(1, seeds + 1)] for n in ["alone"] + pols}
# the figure shows a readable subset, the waits of all seeds summed; the table has every policy
shown = [n for n in ("alone", "credit", "gang", "asman", "balance", "kvm") if n in runs]
hists = {}
for n in shown:
    h = []
    for r in runs[n]:
        for i, c in enumerate(r["vms"][0]["spin"]["histogram_log2_cycles"]):
            h += [0] * (i + 1 - len(h))
            h[i] += c
    hists[n] = h
with open(f"{out}/hist.dat", "w") as f:
    f.write("# log2_cycles " + " ".join(shown) + "\n")
    for i in range(max(len(h) for h in hists.values())):
        f.write(f"{i} " + " ".join(str(hists[n][i] if i < len(hists[n]) else 0) for n in shown) + "\n")
print(f"{'policy':<10} {'hog':<4} {'completion_ms':>13} {'min..max':>21} {'unfinished':>10} {'long_waits':>10} {'hog_work_ms':>11}")
for name in ["alone"] + pols:
    par = [r["vms"][0] for r in runs[name]]
    comp = [v["completion_ms"] for v in par]
    done = [c for c in comp if c is not None]
    # an unfinished run took longer than any finished one: it counts as such in the median
    med = statistics.median([c if c is not None else float("inf") for c in comp])
    med = f"{med:.1f}" if med != float("inf") else "unfinished"
    rng = f"{min(done):.1f}..{max(done):.1f}" if done else "-"
    lw = statistics.median(v["spin"]["long_waits"] for v in par)
    hog = statistics.median(r["vms"][1]["work_ms"] for r in runs[name])
    print(f"{name:<10} {'no' if name == 'alone' else 'yes':<4} {med:>13} {rng:>21} {comp.count(None):>10} {lw:>10g} {hog:>11.1f}")
print(f"(medians over seeds 1-{seeds}; results JSON in {out}/)")
PY
cols=$(head -1 "$out/hist.dat" | wc -w)
{
	echo "set terminal pngcairo size 900,500 noenhanced font 'sans,10'"
	echo "set output '$out/wait_histogram.png'"
	echo "set title 'Spinlock waits of the parallel VM (built-in scenario, seeds 1-$seeds)'"
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
