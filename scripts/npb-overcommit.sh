#!/usr/bin/env bash
# npb-overcommit.sh: the NPB-like kernels (class $CLASS, default A), 2 vCPUs, alone on 2
# pCPUs and beside a 2-vCPU cpu_bound VM, under the kvm policy with host activity on
# (docs/workloads.md): median completion over SEEDS seeds and the slowdown against a
# fair half of the host (beside / alone / 2). PLE=false turns pause-loop exiting off
# (the reference host's KVM has none); KERNELS="lu ep" picks kernels; PROFILE=FILE
# simulates another host profile (scenarios/hosts/loaded-2026-11-26.json gives the
# figures of before 2026-11-27).
# usage: npb-overcommit.sh [VCPUSIM] [SEEDS]
set -u
b=${1:-build/vcpusim}; seeds=${2:-3}
ple=${PLE:+,\"ple\":$PLE}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf "%-4s %12s %12s %10s\n" kernel alone_ms hog_ms slowdown/2
for k in ${KERNELS:-ep is ft mg cg bt sp lu ua}; do
  a=(); h=()
  for s in $(seq 1 $seeds); do
    for mode in alone hog; do
      vms='[{"name":"npb","vcpus":2,"workload":{"kind":"npb","kernel":"'$k'","class":"'${CLASS:-A}'"}}'
      [ $mode = hog ] && vms="$vms"',{"name":"hog","vcpus":2,"workload":{"kind":"cpu_bound"}}'
      echo '{"name":"npb-'$k'","seed":'$s',"stop":{"max_ms":600000},"host":{"pcpus":2},"scheduler":{"policy":"kvm"'"$ple"'},"vms":'"$vms"']}' > $tmp/npb-$k.json
      $b run $tmp/npb-$k.json -o $tmp/npb-$k.out --quiet ${PROFILE:+--set "host.profile=$PROFILE"} 2>/dev/null; v=$(python3 -c 'import json,sys; r=json.load(sys.stdin); print([x for x in r["vms"] if x["name"]=="npb"][0]["completion_ms"])' < $tmp/npb-$k.out)
      [ $mode = alone ] && a+=($v) || h+=($v)
    done
  done
  python3 -c "
import statistics as S; a=[float(x) for x in '${a[*]}'.split()]; h=[float(x) for x in '${h[*]}'.split()]
print('%-4s %12.1f %12.1f %10.2f' % ('$k', S.median(a), S.median(h), S.median(h)/S.median(a)/2))"
done
