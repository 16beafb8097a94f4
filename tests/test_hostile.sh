#!/usr/bin/env bash
# test_hostile.sh: hostile and careless input (issue 13; docs/security.md): nothing
# from a received file reaches gnuplot unescaped, outputs never follow planted
# symlinks nor replace devices or inputs, bad values are refused with exit 2, a run
# that makes no progress stops. Also Unix I/O (issue 14, items 2 and 15): `-o -`,
# `-` for standard input, `-o` through a symlink. Usage: test_hostile.sh VCPUSIM SRCDIR
set -u
bin=$(realpath "$1")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
# expect RC SUBSTRING CMD...: exit code RC and SUBSTRING on stderr
expect() {
	local want_rc=$1 want=$2; shift 2
	local out rc
	out=$(timeout 60 "$@" 2>&1 >/dev/null); rc=$?
	if [ $rc -eq "$want_rc" ] && echo "$out" | grep -qF -- "$want"; then ok
	else bad "$*: expected exit $want_rc with '$want', got $rc: $out"; fi
}
strip_wall() { grep -v '"wall_s"' "$1"; }
have_gnuplot=0
command -v gnuplot >/dev/null && have_gnuplot=1

"$bin" run --quiet -o "$tmp/a.json" || bad "run failed"

# ---- 1. gnuplot: no command from a results or trace file runs
if [ $have_gnuplot = 1 ]; then
	m="$tmp/PWNED"
	"$bin" run --quiet --set "name=x'.system('touch $m').'" -o "$tmp/evil.json" || bad "evil run"
	# names and labels with quotes and backquotes (a line break is refused: item 12)
	python3 - "$tmp/a.json" "$tmp/evil2.json" "$m" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["vms"][0]["name"] = "v'.system('touch %s').'`touch %s`" % ((sys.argv[3],) * 2)
d["scenario"] = "s`touch %s`" % sys.argv[3]
json.dump(d, open(sys.argv[2], "w"))
d["vms"][0]["name"] = "v\n!touch " + sys.argv[3]
json.dump(d, open(sys.argv[2] + ".nl", "w"))
PY
	expect 2 "vms[0].name: a control character" "$bin" compare "$tmp/evil2.json.nl" "$tmp/a.json" --plot "$tmp/c3.png"
	"$bin" compare "$tmp/evil.json" "$tmp/evil.json" --plot "$tmp/c.png" >/dev/null 2>&1
	"$bin" compare "$tmp/evil2.json" "$tmp/a.json" --plot "$tmp/c2.png" --label-a "a'.system('touch $m').'" >/dev/null 2>&1
	[ -e "$m" ] && bad "compare --plot ran a command from a results file" || ok
	[ -s "$tmp/c2.png" ] && ok || bad "compare --plot drew nothing for odd names"
	python3 - "$tmp/tl.json" "$m" <<'PY'
import json, sys
m = sys.argv[2]
names = ["a\n!touch " + m, "b`touch %s`" % m, "c'.system('touch %s').'" % m, 'd"`touch %s`"' % m]
ev = [{"name": "x", "ph": "X", "pid": 0, "tid": i % 2, "ts": 1000.0 * i, "dur": 900.0,
       "args": {"vm": n, "vcpu": 0}} for i, n in enumerate(names)]
json.dump({"traceEvents": ev}, open(sys.argv[1], "w"))
PY
	"$bin" plot --timeline "$tmp/tl.json" -o "$tmp/tlp" >/dev/null 2>&1 || bad "timeline with odd names failed"
	[ -e "$m" ] && bad "plot --timeline ran a command from a trace" || ok
	[ -s "$tmp/tlp/timeline.png" ] && ok || bad "timeline drew nothing"
fi

# ---- 2. output files
# a planted PATH.tmp.PID symlink: exec keeps the PID, so the name is predictable
echo precious > "$tmp/victim"
( cd "$tmp" && bash -c 'ln -s victim out.json.tmp.$$; exec "$0" run --quiet -o out.json' "$bin" ) || bad "run with a planted temp name failed"
[ "$(cat "$tmp/victim")" = precious ] && ok || bad "a planted temp symlink redirected the write"
[ -f "$tmp/out.json" ] && [ ! -L "$tmp/out.json" ] && python3 -m json.tool "$tmp/out.json" >/dev/null && ok || bad "out.json not written as a regular file"
rm -f "$tmp"/out.json.tmp.*
# a FIFO (a device likewise) is written through, not replaced by a regular file
mkfifo "$tmp/fifo"
timeout 60 cat "$tmp/fifo" > "$tmp/fromfifo" &
reader=$!
timeout 60 "$bin" run --quiet -o "$tmp/fifo" || bad "run -o FIFO failed"
wait $reader
[ -p "$tmp/fifo" ] && ok || bad "run -o FIFO replaced the FIFO"
diff <(strip_wall "$tmp/a.json") <(strip_wall "$tmp/fromfifo") >/dev/null && ok || bad "the FIFO did not get the results"
# a device: a private copy of /dev/null (a regression must not break the real one)
if mknod -m 666 "$tmp/null" c 1 3 2>/dev/null; then
	"$bin" run --quiet -o "$tmp/null" && [ -c "$tmp/null" ] && ok || bad "run -o DEVICE replaced the device"
fi
# -o through a symlink replaces its target, not the link (issue 14, item 2)
mkdir "$tmp/d"; echo old > "$tmp/d/target.json"; ln -s d/target.json "$tmp/link.json"
"$bin" run --quiet -o "$tmp/link.json" || bad "run -o LINK failed"
[ -L "$tmp/link.json" ] && ok || bad "-o LINK replaced the link"
diff <(strip_wall "$tmp/a.json") <(strip_wall "$tmp/d/target.json") >/dev/null && ok || bad "-o LINK did not write the target"
ls "$tmp/d" "$tmp" | grep -q '\.tmp\.' && bad "temp files left behind" || ok
# an output that is also an input, or the other output
cp "$tmp/a.json" "$tmp/keep.json"
"$bin" run --quiet --set seed=1 -o "$tmp/s.json" 2>/dev/null
printf '{"vms":[{"name":"a","vcpus":2,"workload":{"kind":"bsp","iterations":5}}]}\n' > "$tmp/s.json"
cp "$tmp/s.json" "$tmp/s.orig"
expect 2 "is also" "$bin" run "$tmp/s.json" -o "$tmp/s.json"
expect 2 "is also" "$bin" run "$tmp/s.json" -o "$tmp/../$(basename "$tmp")/s.json"
expect 2 "is also" "$bin" run "$tmp/s.json" --trace "$tmp/s.json"
expect 2 "is also" "$bin" run "$tmp/s.json" -o "$tmp/x.json" --trace "$tmp/x.json"
cmp -s "$tmp/s.json" "$tmp/s.orig" && ok || bad "the scenario was overwritten"
expect 2 "is also" "$bin" compare "$tmp/keep.json" "$tmp/a.json" --plot "$tmp/keep.json"
expect 2 "is also" "$bin" compare "$tmp/keep.json" "$tmp/a.json,$tmp/keep.json" --plot "$tmp/keep.json"
cmp -s "$tmp/keep.json" "$tmp/a.json" && ok || bad "compare overwrote an input"
expect 2 "is also" "$bin" kvm "$tmp/s.json" --sim-scenario "$tmp/s.json"
# an output that cannot be written fails before simulating; an empty name is bad input
expect 2 "empty file name" "$bin" run "$tmp/s.json" -o ''
expect 1 "No such file or directory" "$bin" run "$tmp/s.json" -o "$tmp/no/such/dir/r.json"
expect 1 "Is a directory" "$bin" run "$tmp/s.json" -o "$tmp/d"
# stdout and stdin (issue 14, item 2)
"$bin" run --quiet "$tmp/s.json" -o "$tmp/f.json"
"$bin" run --quiet "$tmp/s.json" -o - > "$tmp/o.json" && [ ! -e ./- ] && ok || bad "run -o -"
diff <(strip_wall "$tmp/f.json") <(strip_wall "$tmp/o.json") >/dev/null && ok || bad "run -o - differs from -o FILE"
"$bin" run --quiet - -o - < "$tmp/s.json" > "$tmp/i.json" || bad "run - (stdin)"
diff <(strip_wall "$tmp/f.json") <(strip_wall "$tmp/i.json") >/dev/null && ok || bad "run - differs from run FILE"
"$bin" validate - < "$tmp/s.json" && ok || bad "validate -"
echo '{"vms":[' | "$bin" validate - 2>&1 | grep -q '^(standard input): invalid JSON' && ok || bad "stdin errors name (standard input)"
"$bin" run --quiet "$tmp/s.json" --trace - -o "$tmp/f2.json" > "$tmp/t.json" && python3 -m json.tool "$tmp/t.json" >/dev/null && ok || bad "--trace -"
"$bin" compare - "$tmp/f.json" < "$tmp/f.json" | grep -q '^vm ' && ok || bad "compare - (stdin)"
vtr="$2/traces/samples/ep-2t.vtr"
if [ -f "$vtr" ]; then
	"$bin" trace convert - -o - < "$vtr" | cmp -s - "$vtr" && ok || bad "trace convert - -o -"
	"$bin" trace info - < "$vtr" | grep -q '^format: *vcpusim' && ok || bad "trace info -"
	cp "$vtr" "$tmp/t.vtr"
	expect 2 "is also" "$bin" trace convert "$tmp/t.vtr" -o "$tmp/t.vtr"
fi

# ---- 5, 6, 7. silent wrong results
# (5) a zero-length sleep: the io VM serves all its requests (see also check_catches.sh)
"$bin" run --quiet --set 'vms[1].workload={"kind":"io","think_us":0,"requests":10}' -o "$tmp/io.json" || bad "think_us 0 run"
python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["vms"][1]; sys.exit(0 if v["finished"] and v["requests"]==40 else 1)' "$tmp/io.json" && ok || bad "think_us 0: io VM unfinished"
# (6) work that takes no time: stopped with exit 1, naming the VM and the keys
printf '{"vms":[{"name":"zt","vcpus":2,"workload":{"kind":"bsp","grain_us":0,"iterations":1000000000}}],"guest":{"futex_cs_ns":0}}\n' > "$tmp/np.json"
expect 1 "no progress" "$bin" run --quiet "$tmp/np.json" -o "$tmp/np.out"
out=$(timeout 60 "$bin" run --quiet "$tmp/np.json" 2>&1)
echo "$out" | grep -q "VM 'zt' (workload bsp).*grain_us" && ok || bad "no-progress message does not name the VM and keys: $out"
[ -e "$tmp/np.out" ] && bad "results written for a run without progress" || ok
expect 1 "interval_us" "$bin" run --quiet "$tmp/np.json" \
	--set 'vms[0].workload={"kind":"npb","kernel":"cg","iterations":100000000,"interval_us":0,"setup_interval_us":0}'
# ... and refused up front where it can only loop inside one event
printf '{"vms":[{"name":"a","vcpus":2,"workload":{"kind":"cpu_bound"}},{"name":"z","workload":{"kind":"bsp","grain_us":0,"barrier":false,"iterations":1000000000}}]}\n' > "$tmp/loop.json"
expect 2 "vms[1].workload: its operations take no time and wait for nothing" "$bin" validate "$tmp/loop.json"
"$bin" validate "$tmp/loop.json" --set 'vms[1].workload.iterations=50' && ok || bad "a short zero-time VM refused"
"$bin" validate "$tmp/loop.json" --set 'vms[1].workload.barrier=true' && ok || bad "a zero-time VM with barriers refused up front"
# (7) keys each in range whose product overflows
expect 2 "guest: barrier_spin_count x spin_iteration_cycles / host.ghz" "$bin" validate "$tmp/s.json" \
	--set guest.barrier_spin_count=1099511627776 --set guest.spin_iteration_cycles=1000000 --set host.ghz=0.1
expect 2 "pmt_timeout_count" "$bin" validate "$tmp/s.json" \
	--set guest.pmt_timeout_count=1099511627776 --set guest.spin_iteration_cycles=1000000

# ---- 8. --set takes the whole value
expect 2 'stop.max_ms: expected a number' "$bin" validate "$tmp/s.json" --set stop.max_ms=100ms
"$bin" validate "$tmp/s.json" --set 'stop.max_ms=100 ' && ok || bad "--set with trailing blank"

# ---- 9. unbounded reads stop early
mkdir -p "$tmp/zero/runs"; ln -s /dev/zero "$tmp/zero/results.csv"
expect 2 "NUL" "$bin" plot "$tmp/zero"
expect 2 "NUL" "$bin" run /dev/zero
expect 2 "NUL" "$bin" compare /dev/zero "$tmp/a.json"
expect 2 "not a vcpusim trace" "$bin" trace info /dev/zero
mkdir -p "$tmp/dirres/results.csv"
expect 2 "is a directory" "$bin" plot "$tmp/dirres"

# ---- 12. duplicate keys, control characters, bad UTF-8, \u0000
expect 2 "vms[0].vcpus: key given twice" "$bin" validate - <<<'{"vms":[{"vcpus":2,"vcpus":4,"workload":{"kind":"cpu_bound"}}]}'
expect 2 "vms[0].name: a control character" "$bin" validate - <<<'{"vms":[{"name":"a\u001b[2Jb","workload":{"kind":"cpu_bound"}}]}'
expect 2 "name: a control character" "$bin" validate "$tmp/s.json" --set $'name=a\nb'
printf '{"vms":[{"name":"a\xff","workload":{"kind":"cpu_bound"}}]}' > "$tmp/u.json"
expect 2 "vms[0].name: not valid UTF-8" "$bin" validate "$tmp/u.json"
expect 2 'u0000' "$bin" validate - <<<'{"vms":[{"name":"a\u0000b","workload":{"kind":"cpu_bound"}}]}'
"$bin" validate - <<<'{"name":"caf\u00e9 \u2603","vms":[{"name":"\u00e9t\u00e9","workload":{"kind":"cpu_bound"}}]}' && ok || bad "valid UTF-8 refused"

# ---- 13. plot: no partial output; timeline values out of range; empty compare lists
if [ $have_gnuplot = 1 ]; then
	python3 - "$tmp/tl2.json" <<'PY'
import json, sys
ev = [{"name": "x", "ph": "X", "pid": 0, "tid": 2147483647, "ts": 1.0, "dur": 2.0, "args": {"vm": "a"}}]
json.dump({"traceEvents": ev}, open(sys.argv[1], "w"))
PY
	expect 2 "out of range" "$bin" plot --timeline "$tmp/tl2.json" -o "$tmp/tl2"
	sed -i 's/2147483647/0/; s/"ts": 1.0/"ts": 1e300/' "$tmp/tl2.json"
	expect 2 "out of range" "$bin" plot --timeline "$tmp/tl2.json" -o "$tmp/tl2"
	# the trace named timeline.dat in the output directory: refused, not replaced
	cp "$tmp/tl.json" "$tmp/tlp/timeline.dat"
	expect 2 "is also" "$bin" plot --timeline "$tmp/tlp/timeline.dat" -o "$tmp/tlp"
	# a figure that cannot be moved into place: nothing of the run is left
	mkdir -p "$tmp/tl3/timeline.svg"
	expect 1 "nothing written" "$bin" plot --timeline "$tmp/tl.json" -o "$tmp/tl3"
	[ -e "$tmp/tl3/timeline.png" ] && bad "plot left partial output" || ok
	ls -a "$tmp/tl3" | grep -q vcpusim-plot && bad "plot left its staging directory" || ok
	expect 1 "No such file or directory" "$bin" compare "$tmp/a.json" "$tmp/a.json" --plot "$tmp/no/such/c.png"
fi
expect 2 "no empty name" "$bin" compare , "$tmp/a.json"
expect 2 "no empty name" "$bin" compare "$tmp/a.json," "$tmp/a.json"

# ---- 14, issue 14 item 15: messages and usage
"$bin" compare --help | grep -q '25% apart' && ok || bad "compare --help shows %%"
"$bin" compare --help | head -2 | grep -q -- '--floor B' && ok || bad "compare usage omits --floor"
"$bin" run --help | head -2 | grep -q -- '--quiet' && ok || bad "run usage omits --quiet"
expect 2 "'foo': expected policies or workloads" "$bin" list foo
long=$("$bin" list policies | awk 'length > 100' | wc -l)
[ "$long" -eq 0 ] && ok || bad "list policies has $long lines over 100 columns"
"$bin" list policies | grep -q '^credit ' && ok || bad "list policies lost credit"

echo "test_hostile: $pass passed, $fail failed"
[ $fail -eq 0 ]
