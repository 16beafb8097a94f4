#!/usr/bin/env bash
# test_npb_kvm.sh: NPB-like kernels at 2 vCPUs beside a 2-vCPU hog under the kvm
# policy with host activity (issue 12; docs/workloads.md, "Two vCPUs beside a hog").
# Without pause-loop exiting (the reference host's KVM has none), the fine-grained
# kernels lose clearly more than a fair half and the embarrassingly parallel ones
# do not: class A, median of seeds 1-5, slowdown/2 of LU, UA, CG and SP each at
# least 0.2 above the largest of EP, IS and FT (measured on the reference host of
# 2026-11-27: LU 1.79, UA 1.94, CG 2.00, SP 1.27 against at most 1.04, since the kvm
# policy's periodic balance is on the tick grid; LU 1.76, CG 1.88 before; with the one of
# before, LU 1.72, UA 1.97, CG 1.77, SP 1.30 against at most 1.05). Class A, not W: at
# class W FT's 72 ms runs are themselves fine-grained (1.27-1.68 over 5 seeds,
# depending on the model's details and the host profile) and single seeds of LU are
# bimodal (2x, or about 54x when both its vCPUs start on one pCPU and the hog's on
# the other: equal loads, so balancing never parts them; 3 seeds in 12, 1 with the
# earlier reference host). With PLE on (directed yield) EP, CG and LU stay within 0.9-1.15 of
# a fair half. Prints the table.
# usage: bash test_npb_kvm.sh VCPUSIM SOURCE_DIR
set -u
VCPUSIM=$1
SRC=$2
fail=0
nople=$(CLASS=A PLE=false KERNELS="ep is ft cg lu ua sp" bash "$SRC/scripts/npb-overcommit.sh" "$VCPUSIM" 5) || fail=1
ple=$(CLASS=A KERNELS="ep cg lu" bash "$SRC/scripts/npb-overcommit.sh" "$VCPUSIM" 5) || fail=1
echo "without PLE:"; echo "$nople"
echo "with PLE:"; echo "$ple"
python3 - "$nople" "$ple" <<'PY' || fail=1
import sys
def table(t):
    return {l.split()[0]: float(l.split()[3]) for l in t.splitlines()[1:] if l.strip()}
nople, ple = table(sys.argv[1]), table(sys.argv[2])
coarse = max(nople[k] for k in ("ep", "is", "ft"))
for k in ("lu", "ua", "cg", "sp"):
    assert nople[k] >= coarse + 0.2, f"without PLE {k} {nople[k]:.2f} is not clearly above ep/is/ft ({coarse:.2f})"
for k, v in ple.items():
    assert 0.9 <= v <= 1.15, f"with PLE {k} {v:.2f} outside 0.9-1.15"
print("fine-grained kernels lose clearly more without PLE: checked")
PY
[ $fail = 0 ] && echo "test_npb_kvm: passed" || { echo "test_npb_kvm: FAILED" >&2; exit 1; }
