#!/usr/bin/env bash
# test_cli.sh: the CLI contract of interface.md: determinism, exit codes, bad input
# named by file and JSON path, atomic outputs. Usage: test_cli.sh VCPUSIM SRCDIR
set -u
bin=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# --- determinism: same seed, byte-identical results except wall_s; other seed differs
"$bin" run -o "$tmp/a.json" --quiet && "$bin" run -o "$tmp/b.json" --quiet || bad "run failed"
if diff <(grep -v wall_s "$tmp/a.json") <(grep -v wall_s "$tmp/b.json") >/dev/null; then ok; else bad "same seed gave different results"; fi
"$bin" run -o "$tmp/c.json" --quiet --set seed=2
if diff <(grep -v wall_s "$tmp/a.json") <(grep -v wall_s "$tmp/c.json") >/dev/null; then bad "seed 2 gave identical results"; else ok; fi
python3 -c "import json,sys; d=json.load(open(sys.argv[1])); assert d['vms'][0]['spin']['histogram_log2_cycles']; assert 'idle_with_runnable_ms' in d['host']" "$tmp/a.json" && ok || bad "results JSON lacks keys"
ls "$tmp" | grep -q tmp && bad "temporary files left behind" || ok

# --- summary and list
"$bin" run --quiet | grep -q "completion_ms" && ok || bad "no summary table"
"$bin" list policies | grep -q "^credit" && ok || bad "list policies"
"$bin" list workloads | grep -q "^bsp" && ok || bad "list workloads"
"$bin" --version | grep -q "vcpusim" && ok || bad "--version"
for c in run validate list; do "$bin" $c --help | grep -q usage && ok || bad "$c --help"; done

# --- bad input: exit 2, message names the file and the JSON path
expect2() {  # expect2 SUBSTRING FILE-CONTENT [extra args...]
	local want=$1 content=$2; shift 2
	printf '%s' "$content" > "$tmp/s.json"
	out=$("$bin" run "$tmp/s.json" -o "$tmp/out.json" "$@" 2>&1); rc=$?
	if [ $rc -eq 2 ] && echo "$out" | grep -qF -- "$want"; then ok; else bad "expected exit 2 with '$want', got $rc: $out"; fi
	[ -e "$tmp/out.json" ] && bad "output written on bad input ($want)"
	return 0
}
base='"vms":[{"name":"a","vcpus":2,"workload":{"kind":"cpu_bound"}}]'
expect2 "s.json: invalid JSON near line 1" '{"vms": ['
expect2 "s.json: vms[0].vcpus: expected an integer in [1, 65536], got \"four\"" '{"vms":[{"vcpus":"four","workload":{"kind":"cpu_bound"}}]}'
expect2 "vms[0].vcpus: expected an integer" '{"vms":[{"vcpus":2.5,"workload":{"kind":"cpu_bound"}}]}'
expect2 "host.pcpus: expected an integer in [1, 4096], got 0" "{\"host\":{\"pcpus\":0},$base}"
expect2 "hots: unknown key" "{\"hots\":{},$base}"
expect2 "vms[0].wieght: unknown key" '{"vms":[{"wieght":2,"workload":{"kind":"cpu_bound"}}]}'
expect2 "scheduler.policy: unknown policy \"nope\"" "{\"scheduler\":{\"policy\":\"nope\"},$base}"
expect2 "scheduler.slice: unknown key" "{\"scheduler\":{\"policy\":\"credit\",\"slice\":3},$base}"
expect2 "vms[0].workload.kind: unknown workload" '{"vms":[{"workload":{"kind":"x"}}]}'
expect2 "vms[0].workload: missing" '{"vms":[{"vcpus":1}]}'
expect2 "vms[0].workload.grain_us: expected a number" '{"vms":[{"workload":{"kind":"bsp","grain_us":"x"}}]}'
expect2 "vms[0].affinity[0]: expected a pCPU id in [0, 3]" '{"vms":[{"affinity":[7],"workload":{"kind":"cpu_bound"}}]}'
expect2 "guest.spinlock: expected one of" "{\"guest\":{\"spinlock\":\"mcs\"},$base}"
expect2 "vms: expected at least one VM" '{"vms":[]}'
expect2 "vms: missing" '{}'
expect2 "expected a JSON object" '[1,2]'
expect2 "trailing text" "{$base} x"
expect2 "two VMs are named" '{"vms":[{"name":"a","workload":{"kind":"cpu_bound"}},{"name":"a","workload":{"kind":"cpu_bound"}}]}'
expect2 "more than this simulator's limits" '{"vms":[{"count":16000,"vcpus":64,"workload":{"kind":"cpu_bound"}}]}'
expect2 "index 5 out of range" "{$base}" --set 'vms[5].vcpus=2'
expect2 "vms[0].vcpus: expected an integer" "{$base}" --set 'vms[0].vcpus=four'
expect2 "expected PATH=VALUE" "{$base}" --set 'novalue'
expect2 "host.pcpus: expected sockets x cores x threads = 8, got 6" "{\"host\":{\"pcpus\":6,\"sockets\":2,\"cores\":2,\"threads\":2},$base}"
expect2 "host.noise: 16000 VMs and 4096 noise VMs" '{"host":{"pcpus":4096,"noise":{}},"vms":[{"count":16000,"workload":{"kind":"cpu_bound"}}]}'
expect2 "host.profile: host profile" '{"host":{"profile":"no-such-profile.json"},"vms":[{"workload":{"kind":"cpu_bound"}}]}'
expect2 "host.activity: expected one of" '{"host":{"activity":"sometimes"},"vms":[{"workload":{"kind":"cpu_bound"}}]}'
out=$("$bin" run "$tmp/missing.json" 2>&1); [ $? -eq 2 ] && echo "$out" | grep -q "missing.json: cannot open" && ok || bad "missing file: $out"
out=$("$bin" run --bogus 2>&1); [ $? -eq 2 ] && ok || bad "unknown flag should exit 2"
out=$("$bin" frobnicate 2>&1); [ $? -eq 2 ] && ok || bad "unknown command should exit 2"
printf '{"vms":[{"workload":{"kind":"cpu_bound"}}]}' > "$tmp/v.json"
out=$("$bin" validate "$tmp/v.json" 2>&1); [ $? -eq 0 ] && [ -z "$out" ] && ok || bad "validate of a good file printed '$out'"
# a --set that creates keys works
"$bin" run "$tmp/v.json" --quiet --set stop.max_ms=50 --set scheduler.timeslice_ms=10 -o "$tmp/v.out" && ok || bad "--set creating keys"
# --trace writes valid JSON whose slices on a pCPU do not overlap
"$bin" run --quiet --set stop.max_ms=200 --trace "$tmp/t.json" -o "$tmp/t.out" || bad "--trace run"
python3 - "$tmp/t.json" <<'PY' && ok || bad "trace file invalid"
import json, sys
ev = [e for e in json.load(open(sys.argv[1]))["traceEvents"] if e.get("ph") == "X"]
assert ev
by = {}
for e in ev: by.setdefault((e["pid"], e["tid"]), []).append((e["ts"], e["ts"] + e["dur"]))
for s in by.values():
    s.sort()
    assert all(a[1] <= b[0] + 1e-6 for a, b in zip(s, s[1:]))
PY
# every scenario in the repo is valid and runs clean under --check
for f in "$2"/scenarios/*.json "$2"/scenarios/*/*.json; do
	[ -e "$f" ] || continue
	case $f in */sweeps/*) continue ;; esac # sweep files (test_sweep_real.sh checks them)
	case $f in */scenarios/hosts/*) continue ;; esac   # host profiles, not scenarios
	"$bin" validate "$f" && ok || bad "scenario $f invalid"
	"$bin" run "$f" --check --quiet --set stop.max_ms=2000 -o "$tmp/chk.json" && ok || bad "scenario $f fails --check"
done
# every shipped host profile loads and drives a kvm run under --check
for f in "$2"/scenarios/hosts/*.json; do
	"$bin" run --quiet --check --set "host.profile=$f" --set scheduler.policy=kvm --set stop.max_ms=300 \
		-o "$tmp/hp.json" && python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["host_profile"]["source"] in (sys.argv[2], "built-in")' "$tmp/hp.json" "$f" &&
		ok || bad "host profile $f"
done
# --quiet is quiet: a run that stop.max_ms ends with a VM unfinished prints nothing
# (the results say so); without --quiet a note says it
"$bin" run --quiet --set stop.max_ms=200 -o "$tmp/q.json" 2>"$tmp/q.err" && [ ! -s "$tmp/q.err" ] && ok ||
  bad "run --quiet printed: $(cat "$tmp/q.err")"
"$bin" run --set stop.max_ms=200 -o "$tmp/q.json" 2>"$tmp/q.err" && grep -q "stopped at stop.max_ms" "$tmp/q.err" && ok ||
  bad "run without --quiet: no note of the stop: $(cat "$tmp/q.err")"
echo "test_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
