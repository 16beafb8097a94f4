#!/usr/bin/env bash
# test_kvm_cli.sh: the parts of `vcpusim kvm` and `vcpusim compare` that need no
# KVM: bad input refused with exit 2 naming file and JSON path, the simulator's
# equivalent scenario, the comparison table of two simulated results.
# Usage: test_kvm_cli.sh VCPUSIM SRCDIR
set -u
bin=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

expect2() {  # expect2 SUBSTRING FILE-CONTENT
	printf '%s' "$2" > "$tmp/s.json"
	out=$("$bin" kvm "$tmp/s.json" -o "$tmp/out.json" 2>&1); rc=$?
	if [ $rc -eq 2 ] && echo "$out" | grep -qF -- "$1"; then ok; else bad "expected exit 2 with '$1', got $rc: $out"; fi
	[ -e "$tmp/out.json" ] && bad "output written on bad input ($1)"
	return 0
}
vm='{"name":"a","vcpus":2,"workload":{"kind":"bsp","iterations":2}}'
expect2 "s.json: vms[1].workload.kind: the KVM runner supports workloads \"bsp\" and \"cpu_bound\", got \"io\"" \
	"{\"host\":{\"pcpus\":1},\"vms\":[$vm,{\"name\":\"b\",\"workload\":{\"kind\":\"io\"}}]}"
expect2 "s.json: guest.spinlock: the KVM runner supports" \
	"{\"host\":{\"pcpus\":1},\"guest\":{\"spinlock\":\"pvticket\"},\"vms\":[$vm]}"
expect2 "s.json: kvm.host_hogs[0].affinity[0]: expected a pCPU id in [0, 0], got 3" \
	"{\"host\":{\"pcpus\":1},\"kvm\":{\"host_hogs\":[{\"affinity\":[3]}]},\"vms\":[$vm]}"
expect2 "s.json: kvm.gap_us: expected" "{\"host\":{\"pcpus\":1},\"kvm\":{\"gap_us\":\"x\"},\"vms\":[$vm]}"
expect2 "s.json: guest.spinlock: the KVM runner supports" \
	"{\"host\":{\"pcpus\":1},\"guest\":{\"spinlock\":\"pvqspinlock\"},\"vms\":[$vm]}"
expect2 "s.json: vms[0].workload.tlb_shootdowns_per_phase: the KVM runner's OS-less guest has no TLB shootdowns" \
	'{"host":{"pcpus":1},"vms":[{"vcpus":2,"workload":{"kind":"bsp","iterations":2,"tlb_shootdowns_per_phase":1}}]}'
expect2 "s.json: kvm.hogs: unknown key" "{\"host\":{\"pcpus\":1},\"kvm\":{\"hogs\":1},\"vms\":[$vm]}"
expect2 "s.json: host.pcpus: 4096 pCPUs, but host CPU" "{\"host\":{\"pcpus\":4096},\"vms\":[$vm]}"
expect2 "s.json: vms[0].vcpus: the KVM runner supports at most 32 vCPUs" \
	'{"host":{"pcpus":1},"vms":[{"vcpus":33,"workload":{"kind":"cpu_bound"}}]}'
expect2 "s.json: invalid JSON" '{"vms": ['
"$bin" kvm >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "kvm without a scenario should exit 2"
"$bin" kvm --help | grep -q "host_hogs" && ok || bad "kvm --help"
"$bin" compare --help | grep -q "usage" && ok || bad "compare --help"

# --- the simulator accepts a scenario with a kvm section, and the equivalent one
for f in "$src"/scenarios/validation/*.json; do
	"$bin" validate "$f" && ok || bad "validate $f"
	"$bin" kvm "$f" --sim-scenario "$tmp/sim.json" && "$bin" validate "$tmp/sim.json" && ok || bad "--sim-scenario $f"
done
"$bin" kvm "$src/scenarios/validation/08-hogs.json" --sim-scenario "$tmp/sim.json"
grep -q '"cpu_bound"' "$tmp/sim.json" && ! grep -q '"host_hogs"' "$tmp/sim.json" && ok || bad "hogs not turned into cpu_bound VMs"
python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["vms"]; assert [x.get("native", False) for x in v] == [False, True, True], v' \
	"$tmp/sim.json" && ok || bad "hogs are native (processes) in the simulated scenario"
# a host profile named relative to the scenario is named absolutely in the written
# scenario, which may be elsewhere, and the run finds it
mkdir -p "$tmp/d"
cp "$src/scenarios/hosts/reference.json" "$tmp/d/host.json"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); d["host"]["profile"]="host.json"; json.dump(d, open(sys.argv[2], "w"))' \
	"$src/scenarios/validation/08-hogs.json" "$tmp/d/s.json"
"$bin" kvm "$tmp/d/s.json" --sim-scenario "$tmp/rel.json" && "$bin" run "$tmp/rel.json" --quiet -o /dev/null &&
	grep -q "\"profile\":[[:space:]]*\"$tmp/d/host.json\"" "$tmp/rel.json" && ok || bad "relative host.profile in --sim-scenario"

# --sim-noise: one pinned io VM per pCPU; bad values refused
"$bin" kvm "$src/scenarios/validation/03-split-ticket.json" --sim-scenario "$tmp/noise.json" --sim-noise 12000:350 &&
	"$bin" validate "$tmp/noise.json" && [ "$(grep -c '"host-noise-' "$tmp/noise.json")" = 2 ] && ok || bad "--sim-noise"
"$bin" kvm "$src/scenarios/validation/03-split-ticket.json" --sim-scenario "$tmp/n2.json" --sim-noise 12000 2>/dev/null
[ $? -eq 2 ] && [ ! -e "$tmp/n2.json" ] && ok || bad "--sim-noise without a service time should exit 2"

# --- compare two simulated results
"$bin" run "$src/scenarios/validation/03-split-ticket.json" -o "$tmp/a.json" --quiet
"$bin" run "$src/scenarios/validation/03-split-ticket.json" -o "$tmp/b.json" --quiet --set seed=2
out=$("$bin" compare "$tmp/a.json" "$tmp/a.json,$tmp/b.json")
echo "$out" | grep -qE '^a +[0-9.]+ +[0-9.]+ \[[0-9]+\.\.[0-9]+\] +[0-9.]+' && ok || bad "compare table: $out"
echo "$out" | grep -qE '^b +[0-9.]+ ' && ok || bad "compare row b"
printf '{"vms":[{"name":"a","spin":{"histogram_log2_cycles":[1,"x"]}}]}' > "$tmp/bad.json"
out=$("$bin" compare "$tmp/a.json" "$tmp/bad.json" 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -qF "bad.json: vms[0].spin.histogram_log2_cycles[1]: expected a count >= 0" && ok || bad "compare bad input: $rc $out"
"$bin" compare "$tmp/a.json" "$tmp/missing.json" >/dev/null 2>&1; [ $? -eq 2 ] && ok || bad "compare missing file"
if command -v gnuplot >/dev/null; then
	"$bin" compare "$tmp/a.json" "$tmp/b.json" --plot "$tmp/p.png" >/dev/null && [ -s "$tmp/p.png" ] && ok || bad "compare --plot"
fi
ls "$tmp" | grep -q '\.tmp\.' && bad "temporary files left behind" || ok

# --- a host without KVM: a clear message, exit 1, nothing written; the KVM test skips
out=$(VCPUSIM_KVM_DEVICE=/nonexistent/kvm "$bin" kvm "$src/scenarios/validation/01-alone-locks.json" -o "$tmp/no.json" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -qF "KVM is not usable here: /nonexistent/kvm: No such file" && [ ! -e "$tmp/no.json" ] && ok || bad "no KVM: $rc $out"
out=$(VCPUSIM_KVM_DEVICE=/nonexistent/kvm bash "$src/tests/test_kvm_run.sh" "$bin" "$src" 2>&1); rc=$?
[ $rc -eq 77 ] && echo "$out" | grep -q "^SKIP: vcpusim kvm: KVM is not usable here" && ok || bad "test_kvm_run should skip: $rc $out"

echo "test_kvm_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
