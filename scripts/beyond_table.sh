#!/usr/bin/env bash
# beyond_table.sh: the table of docs/policies.md ("The tradeoff, beyond the
# paper"): the tradeoff scenario (scenarios/tradeoff/credit.json) under every
# policy and every guest spinlock kind, over SEEDS seeds (default 5:
# seeds 1..5); each cell is the median, completion also [min-max]. coresched runs
# the same VMs on 2 cores x 2 SMT threads (it needs SMT); every other row on 4
# single-thread cores.
# Usage: [SEEDS=n] beyond_table.sh VCPUSIM [OUTDIR]   (prints a Markdown table)
set -eu
bin=$1 out=${2:-$(mktemp -d)}
seeds=${SEEDS:-5}
scn=$(dirname "$0")/../scenarios/tradeoff/credit.json
mkdir -p "$out"
rows=()
for pol in credit gang hybrid asman hybrid-ipi balance relaxed credit2 coresched \
	"kvm ple=false" kvm "kvm weights=vm" "kvm fair=cfs"; do
	for lock in ticket tas pvticket pmtlock; do
		files=
		for seed in $(seq 1 "$seeds"); do
			name=${pol// /_}-$lock-$seed
			set -- --set scheduler.policy="${pol%% *}" --set guest.spinlock="$lock" --set seed="$seed"
			case $pol in
			coresched) set -- "$@" --set host.cores=2 --set host.threads=2 --set host.pcpus=4 ;;
			"kvm ple=false") set -- "$@" --set scheduler.ple=false ;;
			"kvm weights=vm") set -- "$@" --set scheduler.weights=vm ;;
			"kvm fair=cfs") set -- "$@" --set scheduler.fair=cfs ;;
			esac
			"$bin" run "$scn" "$@" -o "$out/$name.json"
			files="$files,$out/$name.json"
		done
		rows+=("$pol|$lock|${files#,}")
	done
done
python3 - "${rows[@]}" <<'PY'
import json, statistics, sys
med = statistics.median
print("| policy | spinlock | par completion, ms: median [min-max] | long waits | non-concurrent work, pCPUs | io wake p99, us | idle with runnable, ms |")
print("|---|---|---:|---:|---:|---:|---:|")
for row in sys.argv[1:]:
    pol, lock, files = row.split("|")
    comp, lw, other, p99, iwr, unfinished = [], [], [], [], [], 0
    for f in files.split(","):
        r = json.load(open(f))
        vms = {v["name"]: v for v in r["vms"]}
        par = vms["par"]
        if par["completion_ms"] is None:
            unfinished += 1
            comp.append(float("inf"))
        else:
            comp.append(par["completion_ms"])
        lw.append(par["spin"]["long_waits"])
        other.append(sum(v["work_ms"] for n, v in vms.items() if n != "par") / r["sim_ms"])
        p99.append(vms["io"].get("wake_latency_us", {}).get("p99", float("nan")))
        iwr.append(r["host"]["idle_with_runnable_ms"])
    c = f"{med(comp):.0f} [{min(comp):.0f}-{max(comp):.0f}]".replace("inf", "unfinished")
    print(f"| {pol} | {lock} | {c} | {med(lw):.0f} | {med(other):.2f} | {med(p99):.0f} | {med(iwr):.0f} |")
PY
