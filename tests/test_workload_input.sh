#!/bin/bash
# test_workload_input.sh: bad npb / mixed workload input exits 2 with the file and
# the JSON path of the offending value; good presets validate; `list workloads`
# shows every kind. Usage: bash test_workload_input.sh VCPUSIM SRCDIR
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

scenario() {   # $1 = workload object
	cat > "$tmp/s.json" <<JSON
{"host": {"pcpus": 2}, "vms": [{"name": "a", "vcpus": 2, "workload": $1}]}
JSON
}

expect_bad() {   # $1 = workload, $2 = text the message must contain
	scenario "$1"
	out=$("$bin" validate "$tmp/s.json" 2>&1); rc=$?
	if [ $rc -ne 2 ] || ! grep -qF -- "$2" <<<"$out" || ! grep -qF "s.json" <<<"$out"; then
		echo "FAIL: $1 -> rc $rc, \"$out\" (wanted 2 and \"$2\")"; fail=1
	fi
}

expect_good() {
	scenario "$1"
	if ! out=$("$bin" validate "$tmp/s.json" 2>&1); then echo "FAIL: $1 rejected: $out"; fail=1; fi
}

expect_bad '{"kind": "npb"}' 'vms[0].workload.kernel'
expect_bad '{"kind": "npb", "kernel": "xx"}' 'vms[0].workload.kernel'
expect_bad '{"kind": "npb", "kernel": "lu", "class": "D"}' 'vms[0].workload.class'
expect_bad '{"kind": "npb", "kernel": "cg", "iterations": "many"}' 'vms[0].workload.iterations'
expect_bad '{"kind": "npb", "kernel": "cg", "imbalance": 2}' 'vms[0].workload.imbalance'
expect_bad '{"kind": "npb", "kernel": "lu", "syncs_per_iter": 1}' 'vms[0].workload.handoffs'
expect_bad '{"kind": "npb", "kernel": "ua", "lock_hold_ns": 50}' 'vms[0].workload.lock_rate'
expect_bad '{"kind": "npb", "kernel": "ep", "interval": 3}' 'vms[0].workload'
expect_bad '{"kind": "npb", "kernel": "ua", "lock_kind": "mcs"}' 'vms[0].workload.lock_kind'
expect_bad '{"kind": "mixed", "think_prob": 1.5}' 'vms[0].workload.think_prob'
expect_bad '{"kind": "mixed", "dist": "normal"}' 'vms[0].workload.dist'
for k in ep is ft bt lu sp mg cg ua; do
	for c in S W A B C; do expect_good "{\"kind\": \"npb\", \"kernel\": \"$k\", \"class\": \"$c\"}"; done
done
expect_good '{"kind": "npb", "kernel": "bt", "handoffs": 10, "lock_rate": 1, "interval_us": 100}'
expect_good '{"kind": "mixed", "bursts": 10, "dist": "fixed"}'

list=$("$bin" list workloads)
for w in cpu_bound bsp io npb mixed; do
	grep -q "^$w " <<<"$list" || { echo "FAIL: list workloads lacks $w"; fail=1; }
done
[ "$(wc -l <<<"$list")" -eq "$(grep -c . <<<"$list")" ] || { echo "FAIL: blank lines in list"; fail=1; }

# a small run from the command line with an override
out=$("$bin" run "$tmp/s.json" --set 'vms[0].workload={"kind":"npb","kernel":"lu","class":"S","iterations":5}' -o "$tmp/r.json") \
	|| { echo "FAIL: lu S run: $out"; fail=1; }
grep -q '"p2p"' "$tmp/r.json" || { echo "FAIL: results lack p2p"; fail=1; }

[ $fail -eq 0 ] && echo ok
exit $fail
