#!/usr/bin/env bash
# modern_guests_tables.sh: the tables of docs/policies.md, "Modern guests" (issue 16):
#  locks: scenarios/examples/lock-convoy.json (a lock-heavy 4-vCPU VM beside a 4-vCPU
#         hog on 4 pCPUs, 2x) under credit, asman, kvm (EEVDF with PLE), credit-ple
#         (Xen 4.0 PLE yield) and dcs for every
#         guest spinlock kind, seeds 1-3: completion, long waits, pv halts/kicks;
#  npb:   scenarios/asman/npb.json at 2x (12 vCPUs on 6 pCPUs) under credit and
#         asman with the default monitor, every NPB-like kernel: what the paper's
#         monitor sees (kernel long waits by cause) and whether asman engages;
#  npb-rq: the same with the paper-era wake-up path (guest.ttwu_rq_lock: each
#         wake-up under the wakee's rq lock): rq-lock waits, long ones.
# Usage: modern_guests_tables.sh VCPUSIM locks|npb|npb-rq [OUTDIR]   (prints Markdown)
set -eu
bin=$1 what=$2 out=${3:-$(mktemp -d)}
here=$(dirname "$0")/..
mkdir -p "$out"
case $what in
locks)
	echo "| policy | spinlock | completion ms (seeds 1/2/3) | long waits | pv halts/kicks |"
	echo "|---|---|---|---|---|"
	for pol in credit asman kvm credit-ple dcs; do
		for lock in ticket qspinlock tas pvticket pvqspinlock; do
			for seed in 1 2 3; do
				"$bin" run "$here/scenarios/examples/lock-convoy.json" --quiet \
					--set scheduler.policy=$pol --set guest.spinlock=$lock --set seed=$seed \
					-o "$out/$pol-$lock-$seed.json" 2>/dev/null
			done
			python3 - "$out" $pol $lock <<'P'
import json, sys
out, pol, lock = sys.argv[1:4]
rs = [json.load(open('%s/%s-%s-%d.json' % (out, pol, lock, s)))['vms'][0] for s in (1, 2, 3)]
c = " / ".join("%.0f" % r['completion_ms'] if r['completion_ms'] is not None else ">10000" for r in rs)
lw = " / ".join(str(r['spin']['long_waits']) for r in rs)
hk = " / ".join("%d/%d" % (r['spin']['pv_halts'], r['spin']['pv_kicks']) for r in rs)
print("| %s | %s | %s | %s | %s |" % (pol, lock, c, lw, hk))
P
		done
	done ;;
npb|npb-rq)
	if [ "$what" = npb ]; then
		echo "| kernel | policy | completion ms | spinlock acquisitions | long kernel waits: spinlock / TLB | hand-off long waits | coscheduled ms |"
		set --
	else
		echo "| kernel | policy | completion ms | rq-lock waits | long kernel waits: spinlock / rq lock | rq-lock spin ms | coscheduled ms |"
		set -- --set guest.ttwu_rq_lock=true
	fi
	echo "|---|---|---|---|---|---|---|"
	for k in ep is ft bt lu sp mg cg ua; do
		for pol in credit asman; do
			"$bin" run "$here/scenarios/asman/npb.json" --quiet --set host.pcpus=6 \
				--set "vms[0].workload.kernel=$k" --set scheduler.policy=$pol "$@" \
				-o "$out/$k-$pol-$what.json" 2>/dev/null
			python3 - "$out/$k-$pol-$what.json" $k $pol $what <<'P'
import json, sys
v = json.load(open(sys.argv[1]))['vms'][0]
kw = v['kernel_waits']
c = "%.0f" % v['completion_ms'] if v['completion_ms'] is not None else "unfinished"
if sys.argv[4] == 'npb':
    print("| %s | %s | %s | %d | %d / %d | %d | %.0f |" % (sys.argv[2], sys.argv[3], c,
          v['spin']['acquisitions'], kw['spinlock']['long_waits'], kw['tlb_shootdown']['long_waits'],
          v['p2p']['long_waits'], v['cosched_ms']))
else:
    print("| %s | %s | %s | %d | %d / %d | %.3f | %.0f |" % (sys.argv[2], sys.argv[3], c,
          kw['rq_lock']['waits'], kw['spinlock']['long_waits'], kw['rq_lock']['long_waits'],
          kw['rq_lock']['spin_ms'], v['cosched_ms']))
P
		done
	done ;;
*)
	echo "usage: modern_guests_tables.sh VCPUSIM locks|npb|npb-rq [OUTDIR]" >&2
	exit 2 ;;
esac
