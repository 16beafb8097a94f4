#!/usr/bin/env bash
# check_catches.sh: `run --check` stops a run whose invariants break, with exit 1
# and a message naming the event and the time; the same scenario on the correct
# build passes. Usage: check_catches.sh VCPUSIM-FAULTY VCPUSIM
set -u
faulty=$1 good=$2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
out=$("$faulty" run --check --quiet -o "$tmp/r.json" 2>&1); rc=$?
fail=0
[ $rc -eq 1 ] || { echo "FAIL: expected exit 1 from the broken build, got $rc"; fail=1; }
echo "$out" | grep -Eq "invariant violated at t=[0-9]+ ns, after event #[0-9]+ \(pCPU schedule\): pCPU [0-9]+ runs vCPU par\.[0-9] which does not run there" \
	|| { echo "FAIL: message does not name the event, time and fault: $out"; fail=1; }
[ -e "$tmp/r.json" ] && { echo "FAIL: results written for a broken run"; fail=1; }
"$faulty" run --quiet -o "$tmp/r.json" 2>/dev/null; [ $? -eq 0 ] || { echo "FAIL: without --check the broken build should not notice"; fail=1; }
"$good" run --check --quiet -o "$tmp/g.json" || { echo "FAIL: the correct build fails --check"; fail=1; }
echo "$out" | head -1

# The frozen vCPU of issue 13, item 5 (VCPUSIM_FAULT=frozen brings the bug back in
# the broken build): a zero-length sleep left the vCPU running with its thread
# asleep for good; --check names it, and the fixed build finishes all 40 requests.
io0='vms[1].workload={"kind":"io","think_us":0,"requests":10}'
out=$(VCPUSIM_FAULT=frozen "$faulty" run --check --quiet --set "$io0" -o "$tmp/f.json" 2>&1); rc=$?
[ $rc -eq 1 ] || { echo "FAIL: frozen vCPU: expected exit 1 from --check, got $rc"; fail=1; }
echo "$out" | grep -q "a running vCPU's guest thread is asleep" \
	|| { echo "FAIL: --check does not name the frozen vCPU: $out"; fail=1; }
"$good" run --check --quiet --set "$io0" -o "$tmp/f.json" || { echo "FAIL: the fixed build fails --check with think_us 0"; fail=1; }
python3 - "$tmp/f.json" <<'PY' || fail=1
import json, sys
d = json.load(open(sys.argv[1]))
io = d["vms"][1]
if not io.get("finished") or io.get("requests") != 40:
    print("FAIL: think_us 0: io VM finished=%s requests=%s, expected true and 40" % (io.get("finished"), io.get("requests")))
    sys.exit(1)
PY
echo "$out" | head -1
echo "test_check_catches: $((fail == 0 ? 1 : 0)) passed, $fail failed"
exit $fail
