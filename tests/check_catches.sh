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
echo "test_check_catches: $((fail == 0 ? 1 : 0)) passed, $fail failed"
exit $fail
