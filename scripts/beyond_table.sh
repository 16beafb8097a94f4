#!/usr/bin/env bash
# beyond_table.sh: the table of docs/policies.md ("The tradeoff, beyond the
# paper"): scenarios/beyond/tradeoff.json under every policy this script knows and
# every guest spinlock kind. coresched runs the same VMs on 2 cores x 2 SMT
# threads (it needs SMT); every other row on 4 single-thread cores.
# Usage: beyond_table.sh VCPUSIM [OUTDIR]   (prints a Markdown table)
set -eu
bin=$1 out=${2:-$(mktemp -d)}
scn=$(dirname "$0")/../scenarios/beyond/tradeoff.json
mkdir -p "$out"
rows=()
for pol in credit balance relaxed credit2 coresched "kvm ple=false" kvm; do
	for lock in ticket tas pvticket pmtlock; do
		name=${pol// /_}-$lock
		set -- --set scheduler.policy="${pol%% *}" --set guest.spinlock="$lock"
		case $pol in
		coresched) set -- "$@" --set host.cores=2 --set host.threads=2 --set host.pcpus=4 ;;
		"kvm ple=false") set -- "$@" --set scheduler.ple=false ;;
		esac
		"$bin" run "$scn" "$@" -o "$out/$name.json"
		rows+=("$pol|$lock|$out/$name.json")
	done
done
python3 - "${rows[@]}" <<'PY'
import json, sys
print("| policy | spinlock | par completion (ms) | long waits | non-concurrent work (pCPUs) | io p99 wake (us) | idle with runnable (ms) |")
print("|---|---|---:|---:|---:|---:|---:|")
for row in sys.argv[1:]:
    pol, lock, f = row.split("|")
    r = json.load(open(f))
    vms = {v["name"]: v for v in r["vms"]}
    par = vms["par"]
    sim_s = r["sim_ms"] / 1000.0
    other = sum(v["work_ms"] for n, v in vms.items() if n != "par") / 1000.0 / sim_s
    comp = par["completion_ms"]
    p99 = vms["io"].get("wake_latency_us", {}).get("p99", float("nan"))
    print(f"| {pol} | {lock} | {comp:.0f} | {par['spin']['long_waits']} | {other:.3f} | "
          f"{p99:.0f} | {r['host']['idle_with_runnable_ms']:.1f} |"
          if comp is not None else
          f"| {pol} | {lock} | unfinished | {par['spin']['long_waits']} | {other:.3f} | {p99:.0f} | {r['host']['idle_with_runnable_ms']:.1f} |")
PY
