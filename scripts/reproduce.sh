#!/usr/bin/env bash
# reproduce.sh: the ASMan (HPDC 2011) experiments: a concurrent VM beside
# non-concurrent VMs at 1x, 1.5x, 2x and 3x overcommit under credit, gang, hybrid
# and asman (scenarios/asman/). `make demo` runs the small version (demo), `make
# reproduce` the full one (full). Writes the sweeps, the figures and a table.
# Usage: reproduce.sh VCPUSIM OUTDIR demo|full
set -eu
bin=$1 out=$2 mode=$3
here=$(cd "$(dirname "$0")/.." && pwd)
sw=$here/scenarios/asman/sweeps
case $mode in
demo) locks=$sw/locks-demo.json npb=$sw/npb-demo.json ;;
full) locks=$sw/locks.json npb=$sw/npb.json ;;
*) echo "reproduce.sh: mode is demo or full" >&2; exit 2 ;;
esac
mkdir -p "$out/figures"
"$bin" sweep "$locks" -o "$out/locks"
"$bin" sweep "$npb" -o "$out/npb"
fig() {  # fig NAME PLOT-ARGS...: one figure, copied to figures/NAME.{png,svg}
	local name=$1; shift
	"$bin" plot "$@" -o "$out/plots/$name" >/dev/null 2>"$out/plots-$name.log" || { cat "$out/plots-$name.log" >&2; return 1; }
	for f in "$out/plots/$name"/*.png "$out/plots/$name"/*.svg; do
		cp "$f" "$out/figures/$name.${f##*.}"
	done
}
mkdir -p "$out/plots"
fig locks-completion "$out/locks" --kind lines --x overcommit --y par.completion_ms
fig locks-throughput "$out/locks" --kind lines --x overcommit --y hog.work_rate
fig locks-waits "$out/locks" --kind hist --vm par --where host.pcpus=4
fig npb-2x "$out/npb" --kind bars --x 'vms[0].workload.kernel' --group scheduler.policy+guest.monitor \
	--y par.completion_ms --where host.pcpus=6 --normalise-to credit/spinlocks
python3 - "$out" <<'PY'
import csv, sys, statistics as st
out = sys.argv[1]
def table(name, keys):
    rows = list(csv.DictReader(open(f"{out}/{name}/results.csv")))
    groups = {}
    for r in rows:
        if r["status"] != "ok":
            continue
        groups.setdefault(tuple(r[k] for k in keys), []).append(r)
    return groups
def mean(rs, col):
    v = [float(r[col]) for r in rs if r.get(col) not in (None, "")]
    return st.mean(v) if v else float("nan")
def others(r):
    return sum(float(v) for k, v in r.items() if k.endswith(".work_rate") and not k.startswith("par.") and v)
starred = False   # the footnote is printed only under a starred cell
g = table("locks", ["host.pcpus", "scheduler.policy"])
print("\nspinlock side (scenarios/asman/locks.json): means over seeds")
print(f"{'overcommit':>10} {'policy':<8} {'par completion ms':>18} {'par long waits':>15} {'others useful pCPUs':>20} {'idle w/ runnable ms':>20}")
for (pc, pol), rs in sorted(g.items(), key=lambda kv: (-int(kv[0][0]), ["credit","gang","hybrid","asman"].index(kv[0][1]))):
    unfinished = sum(1 for r in rs if not r["par.completion_ms"])
    starred = starred or unfinished > 0
    comp = mean(rs, "par.completion_ms")
    print(f"{12/int(pc):>9.1f}x {pol:<8} {comp:>18.0f}{'*' if unfinished else ' '} {mean(rs,'par.long_waits'):>14.0f} {st.mean(others(r) for r in rs):>20.3f} {mean(rs,'host.idle_with_runnable_ms'):>20.0f}")
if starred:
    print("(* some runs did not finish by stop.max_ms: mean over those that did)")
g = table("npb", ["host.pcpus", "vms[0].workload.kernel", "scheduler.policy", "guest.monitor"])
print("\nNPB side at 2x (scenarios/asman/npb.json, class W): completion relative to credit, means over seeds")
kernels = []
for (pc, k, p, m) in g:
    if pc == "6" and k not in kernels:
        kernels.append(k)
variants = [("credit","spinlocks"),("gang","spinlocks"),("hybrid","spinlocks"),("asman","spinlocks"),("asman","all")]
print(f"{'kernel':<7}" + "".join(f"{p + ('/' + m if p == 'asman' else ''):>17}" for p, m in variants))
for k in kernels:
    base = mean(g[("6", k, "credit", "spinlocks")], "par.completion_ms")
    print(f"{k:<7}" + "".join(f"{mean(g[('6', k, p, m)], 'par.completion_ms') / base:>17.2f}" for p, m in variants))
PY
echo "figures: $out/figures/"
