#!/usr/bin/env bash
# test_sweep.sh: `vcpusim sweep` with the fake runner (tests/sweep_fake_runner.sh):
# P points x R replicates give P x R rows; summary.csv equals an independent awk
# computation from results.csv; an interrupted sweep resumed runs only the missing
# runs and ends with the same files as an uninterrupted one; merged shards equal
# the unsharded sweep; crashes and timeouts fail their runs only; bad sweep files
# and a changed sweep into an old directory exit 2 with a message naming the file.
# Usage: bash test_sweep.sh VCPUSIM SOURCE_DIR
set -u
V=$(realpath "$1"); SRC=$(realpath "$2")
export VCPUSIM_SWEEP_RUNNER=$SRC/tests/sweep_fake_runner.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/vcpusim-test-sweep.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

cat > base.json <<'EOF'
{"name": "t", "seed": 1, "host": {"pcpus": 4}, "scheduler": {"policy": "credit"},
 "vms": [{"name": "par", "vcpus": 4, "workload": {"kind": "npb", "kernel": "lu"}},
         {"name": "hog", "count": 1, "vcpus": 4, "workload": {"kind": "cpu_bound"}}]}
EOF
# 2 x 2 x 2 (zip) = 8 points, 3 replicates
cat > sw.json <<'EOF'
{"base": "base.json",
 "vary": {"scheduler.policy": ["credit", "gang"], "vms[0].vcpus": [2, 4]},
 "zip": [{"host.pcpus": [4, 8], "vms[1].count": [1, 2]}],
 "replicates": 3}
EOF

# --- dry run: lists the points, writes nothing
"$V" sweep sw.json --dry-run > out 2> err && [ "$(grep -c '^point ' out)" = 8 ] &&
	grep -q '^24 runs: 8 points x 3 seeds' out && [ ! -e A ] &&
	ok "--dry-run: $(tail -1 out)" || fail "--dry-run: $(cat out err)"

# --- P x R rows
"$V" sweep sw.json -o A -j 2 2>err || fail "sweep exited $? ($(cat err))"
rows=$(($(wc -l < A/results.csv) - 1))
[ "$rows" = 24 ] && ok "8 points x 3 replicates = $rows rows" || fail "expected 24 rows, got $rows"
[ "$(grep -c ',ok,' A/results.csv)" = 24 ] || fail "not every run ok"
[ "$(ls A/runs/*.scenario.json | wc -l)" = 24 ] || fail "expected 24 kept scenarios"
[ "$(ls A/runs/p*_s?.json | wc -l)" = 24 ] || fail "expected 24 kept results"
head -1 A/results.csv | grep -q '^point,scheduler.policy,vms\[0\].vcpus,host.pcpus,vms\[1\].count,replicate,seed,run,status,' ||
	fail "results.csv header: $(head -1 A/results.csv)"
grep -q '"policy":[[:space:]]*"gang"' A/runs/p0004_s2.scenario.json && grep -q '"seed":[[:space:]]*2' A/runs/p0004_s2.scenario.json ||
	fail "point 4 replicate 1 should be gang with seed 2"

# --- summary equals an independent computation (awk, t quantiles from tables)
awk -F, '
BEGIN { t[1] = 12.706204736174704; t[2] = 4.302652729749464; t[3] = 3.182446305284263; t[4] = 2.7764451051977987 }
FNR == 1 { if (FILENAME ~ /results/) for (i = 1; i <= NF; i++) { col[$i] = i; name[i] = $i; if ($i == "status") first = i + 1 }
           else for (i = 1; i <= NF; i++) scol[$i] = i
           next }
FILENAME ~ /results/ {
	if ($col["status"] != "ok") next
	for (i = first; i <= NF; i++) if ($i != "") { k = $1 SUBSEP name[i]; n[k]++; s[k] += $i; v[k, n[k]] = $i }
	next }
{
	k = $1 SUBSEP $scol["metric"]; checked++
	if ($scol["n"] + 0 != n[k] + 0) { print "n differs at point " $1 " " $scol["metric"]; bad++; next }
	if (!n[k]) { if ($scol["mean"] != "") { print "mean should be empty"; bad++ }; next }
	m = s[k] / n[k]; ss = 0
	for (j = 1; j <= n[k]; j++) ss += (v[k, j] - m) ^ 2
	sd = sqrt(ss / (n[k] - 1)); ci = t[n[k] - 1] * sd / sqrt(n[k])
	lo = hi = v[k, 1]
	for (j = 2; j <= n[k]; j++) { if (v[k, j] + 0 < lo + 0) lo = v[k, j]; if (v[k, j] + 0 > hi + 0) hi = v[k, j] }
	for (j = 1; j <= n[k]; j++) w[j] = v[k, j] + 0
	for (a = 2; a <= n[k]; a++) for (b = a; b > 1 && w[b - 1] > w[b]; b--) { tmp = w[b]; w[b] = w[b - 1]; w[b - 1] = tmp }
	med = n[k] % 2 ? w[(n[k] + 1) / 2] : (w[n[k] / 2] + w[n[k] / 2 + 1]) / 2
	if (!close_to($scol["min"], lo) || !close_to($scol["max"], hi) || !close_to($scol["median"], med) || $scol["censored"] != "0") {
		printf "point %s %s: min/max/median/censored %s %s %s %s, awk %s %s %s 0\n", $1, $scol["metric"], $scol["min"], $scol["max"], $scol["median"], $scol["censored"], lo, hi, med; bad++ }
	if (!close_to($scol["mean"], m) || !close_to($scol["sd"], sd) || !close_to($scol["ci95"], ci)) {
		printf "point %s %s: summary %s %s %s, awk %.17g %.17g %.17g\n", $1, $scol["metric"], $scol["mean"], $scol["sd"], $scol["ci95"], m, sd, ci; bad++ }
}
function close_to(a, b) { d = a - b; if (d < 0) d = -d; if (b < 0) b = -b; return d <= 1e-9 * (b > 1 ? b : 1) }
END { if (bad || !checked) { print bad " mismatches, " checked " checked"; exit 1 } print checked " summary rows checked" }
' A/results.csv A/summary.csv > awk.out 2>&1 && ok "summary.csv matches awk ($(tail -1 awk.out))" || fail "summary vs awk: $(head -5 awk.out)"

# --- determinism: -j 1 gives byte-identical tables
"$V" sweep sw.json -o A1 -j 1 2>/dev/null || fail "sweep -j1 failed"
cmp -s A/results.csv A1/results.csv && cmp -s A/summary.csv A1/summary.csv && ok "-j1 and -j2 tables identical" ||
	fail "-j1 and -j2 tables differ"

same_as_A() { # DIR: same tables and run results as A
	cmp -s A/results.csv "$1/results.csv" && cmp -s A/summary.csv "$1/summary.csv" || return 1
	for f in A/runs/p*_s?.json; do cmp -s "$f" "$1/runs/${f#A/runs/}" || return 1; done
	[ "$(ls "$1"/runs/*.json | grep -v scenario | wc -l)" = 24 ]
}

# --- interrupt (SIGTERM, then SIGKILL) and resume
for sig in TERM KILL; do
	rm -rf B log
	FAKE_SLEEP=0.15 "$V" sweep sw.json -o B -j 2 2>/dev/null &
	pid=$!
	for _ in $(seq 200); do
		[ "$(ls B/runs 2>/dev/null | grep -c '_s[0-9]*\.json$')" -ge 6 ] && break
		sleep 0.05
	done
	kill -$sig $pid; wait $pid 2>/dev/null; rc=$?
	[ $sig = TERM ] && [ $rc != 143 ] && fail "SIGTERM'd sweep exited $rc, expected 143"
	sleep 0.2
	done_before=$(ls B/runs | grep -c '_s[0-9]*\.json$')
	[ "$done_before" -lt 24 ] || fail "$sig: the sweep finished before it was killed"
	[ -e B/results.csv ] && fail "$sig: an interrupted sweep wrote results.csv"
	FAKE_LOG=$T/log "$V" sweep sw.json -o B -j 2 2>/dev/null || fail "$sig: resumed sweep failed"
	ran=$(wc -l < log)
	[ "$ran" = $((24 - done_before)) ] && ok "SIG$sig after $done_before runs: resume ran only the $ran missing" ||
		fail "SIG$sig: resume ran $ran runs, expected $((24 - done_before))"
	same_as_A B && ok "SIG$sig: resumed sweep equals the uninterrupted one" || fail "SIG$sig: resumed sweep differs"
	ls B/runs | grep -q 'part' && fail "$sig: partial files left in B/runs"
done
# a finished sweep rerun runs nothing
rm -f log; FAKE_LOG=$T/log "$V" sweep sw.json -o A -j 2 2>/dev/null || fail "rerun of a finished sweep failed"
[ ! -s log ] && ok "rerun of a finished sweep runs nothing" || fail "rerun of a finished sweep ran $(wc -l < log) runs"

# --- shards and merge
for k in 1 2 3; do "$V" sweep sw.json -o S$k --shard $k/3 -j 2 2>/dev/null || fail "shard $k/3 failed"; done
[ $(( $(wc -l < S1/results.csv) + $(wc -l < S2/results.csv) + $(wc -l < S3/results.csv) - 3 )) = 24 ] || fail "shards do not add up to 24 rows"
"$V" sweep --merge S1 S2 S3 -o M 2>err || fail "merge failed: $(cat err)"
same_as_A M && ok "3 shards merged equal the unsharded sweep" || fail "merged shards differ from the unsharded sweep"
"$V" sweep --merge S1 S3 -o M2 2>err; rc=$?
[ $rc = 1 ] && grep -q 'missing' err && ok "merge of incomplete shards: exit 1, says runs are missing" || fail "incomplete merge: rc $rc: $(cat err)"
"$V" sweep --merge S1 A1/runs -o M3 2>err; [ $? = 2 ] || fail "merge of a non-sweep dir should exit 2"
# merging into an OUT that holds the sweep already adds to it (issue 13 item 10:
# it exited 1 silently and merged nothing)
"$V" sweep --merge S2 -o M2 2>err; rc=$?
[ $rc = 0 ] && same_as_A M2 && ok "merge of the missing shard into an earlier merge completes it" ||
	fail "merge into an existing OUT: rc $rc, $(cat err)"
"$V" sweep --merge S1 S2 S3 -o M 2>err && same_as_A M && ok "merge repeated into the same OUT: exit 0, same tables" ||
	fail "repeated merge: $(cat err)"
# a symlink in a shard's runs/ is not followed (issue 13 item 4)
cp -r S1 L1
echo '{"secret": "from outside the shard", "vms": [{"name": "par"}]}' > secret.json
ln -sf "$T/secret.json" L1/runs/p0000_s1.json
"$V" sweep --merge L1 S2 S3 -o ML 2>err; rc=$?
[ $rc = 1 ] && ! grep -rq secret ML && grep -q 'p0000_s1.json: not a regular file' err &&
	grep -q '^0,.*,p0000_s1,missing,' ML/results.csv && ok "merge: a symlinked run is not copied ($(head -1 err | cut -c1-90))" ||
	fail "merge followed a symlink: rc $rc, $(cat err)"

# --- a corrupt result is run again on resume (issue 13 item 10)
cp -r A1 AC
echo '{"truncated' > AC/runs/p0002_s1.json
rm -f log; FAKE_LOG=$T/log "$V" sweep sw.json -o AC -j 2 2>err; rc=$?
[ $rc = 0 ] && [ "$(wc -l < log)" = 1 ] && grep -q p0002_s1 log && cmp -s A/results.csv AC/results.csv &&
	ok "a corrupt run JSON is run again on resume, tables as before" || fail "corrupt result: rc $rc, ran $(cat log 2>/dev/null), $(cat err)"

# --- CSV formula injection (issue 13 item 3): text cells that a spreadsheet would
# evaluate get a leading apostrophe inside quotes; numbers stay numbers
cat > swcsv.json <<'EOF2'
{"base": "base.json", "vary": {"name": ["=HYPERLINK(\"http://x\")", "+1+cmd", "@SUM(A1)", "-2", "plain"]}}
EOF2
"$V" sweep swcsv.json -o CSV 2>err || fail "csv sweep: $(cat err)"
if grep -q '^0,"'"'"'=HYPERLINK(""http://x"")",' CSV/results.csv && grep -q '^1,"'"'"'+1+cmd",' CSV/results.csv &&
	grep -q '^2,"'"'"'@SUM(A1)",' CSV/results.csv && grep -q '^3,-2,' CSV/results.csv && grep -q '^4,plain,' CSV/results.csv &&
	grep -q '^0,"'"'"'=HYPERLINK' CSV/summary.csv && ! grep -q '^[0-9]*,[=+@]' CSV/results.csv CSV/summary.csv; then
	ok "CSV cells starting with = + @ are neutralised, -2 stays a number"
else
	fail "CSV injection: $(cut -d, -f1-3 CSV/results.csv)"
fi

# --- a long seed list is checked in O(n log n) (issue 13 item 11: 300k seeds took
# 99 s); 10^6 seeds would take the old check over 15 minutes
awk 'BEGIN { printf "{\"base\": \"base.json\", \"seeds\": [0"; for (i = 1; i < 1000000; i++) printf ",%d", i * 7; print "]}" }' > swseeds.json
timeout 120 "$V" sweep swseeds.json --dry-run > out 2>err; rc=$?
[ $rc = 0 ] && grep -q '^1000000 runs' out && ok "10^6 distinct seeds checked ($(tail -1 out | cut -c1-40))" || fail "10^6 seeds: rc $rc, $(cat err)"
awk 'BEGIN { printf "{\"base\": \"base.json\", \"seeds\": [5"; for (i = 1; i < 200000; i++) printf ",%d", i * 7 + 100; print ",99,107,99]}" }' > swseeds.json
timeout 120 "$V" sweep swseeds.json --dry-run > out 2>err; rc=$?
[ $rc = 2 ] && grep -q 'seeds\[200001\]: seed 107 appears twice' err && ok "duplicate seed named at its second place: $(cut -c1-60 err)" ||
	fail "duplicate seeds: rc $rc, $(cat err)"

# --- failures stay in their runs
cat > sw3.json <<'EOF'
{"base": "base.json", "vary": {"scheduler.policy": ["credit", "gang", "asman"]}, "replicates": 2, "timeout_s": 0.5}
EOF
FAKE_CRASH=gang FAKE_HANG=asman "$V" sweep sw3.json -o C -j 4 2>err; rc=$?
[ $rc = 1 ] && [ "$(grep -c ',ok,' C/results.csv)" = 2 ] && [ "$(grep -c ',failed,' C/results.csv)" = 4 ] &&
	grep -q 'signal 11' C/runs/p0001_s1.failed && grep -q 'timed out' C/runs/p0002_s2.failed &&
	ok "a crash and a timeout fail their runs, not the sweep (exit 1)" || fail "crash/timeout: rc $rc, $(cat err)"
"$V" sweep sw3.json -o C -j 4 2>/dev/null && [ "$(grep -c ',ok,' C/results.csv)" = 6 ] && [ ! -e C/runs/p0001_s1.failed ] &&
	ok "rerun retries the failed runs" || fail "retrying failed runs"

# --- bad input: exit 2, message names the file and the path
expect2() { # SWEEPJSON PATTERN
	echo "$1" > bad.json
	"$V" sweep bad.json -o D 2>err; rc=$?
	if [ $rc = 2 ] && grep -qF -- "$2" err && [ ! -e D ]; then ok "bad sweep: $(head -1 err)"; else fail "bad sweep $1: rc $rc, $(cat err)"; fi
}
expect2 '{"base": "base.json", "vary": {"vms[5].vcpus": [1]}}' 'bad.json: vary["vms[5].vcpus"][0]: cannot apply'
expect2 '{"base": "base.json", "vary": {"scheduler.policy": "gang"}}' 'bad.json: vary["scheduler.policy"]: expected a non-empty list'
expect2 '{"base": "base.json", "zip": [{"host.pcpus": [1, 2], "vms[0].vcpus": [1]}]}' 'bad.json: zip[0]["vms[0].vcpus"]: has 1 values'
expect2 '{"base": "missing.json"}' 'bad.json: base: missing.json: cannot open'
expect2 '{"base": "base.json", "replicates": 0}' 'bad.json: replicates: expected an integer'
expect2 '{"base": "base.json", "seeds": [1, 1]}' 'bad.json: seeds[1]: seed 1 appears twice'
expect2 '{"base": "base.json", "vary": {"scheduler.policy": ["gang", "bogus"]}}' 'bad.json: point 1 (scheduler.policy="bogus"): the scenario is invalid: scheduler.policy: expected one of'
expect2 '{"base": "base.json", "replicate": 3}' 'bad.json: replicate: unknown key'
expect2 '{"base": [1]' 'bad.json: invalid JSON'
"$V" sweep sw.json -o D --shard 0/3 2>/dev/null; [ $? = 2 ] || fail "--shard 0/3 should exit 2"
"$V" sweep sw.json -o D -j x 2>/dev/null; [ $? = 2 ] || fail "-j x should exit 2"
# -j out of range: exit 2 naming the flag, the value and the range (issue 13, item 14)
for j in "-j 100000" "-j0" "-j -3"; do
	"$V" sweep sw.json -o D $j 2>err; rc=$?
	val=${j#-j}; val=${val# }
	[ $rc = 2 ] && grep -qF -- "-j $val:" err && grep -qF 'from 1 to 4096' err && [ ! -e D ] &&
		ok "$j: $(cat err)" || fail "$j: rc $rc, $(cat err)"
done

# --- several invalid points: the first in point order is named, whichever check
# ends first (issue 13, item 14: it depended on the workers' timing)
printf '{"base": "base.json", "vary": {"scheduler.policy": ["credit", "bogusA", "bogusB", "bogusC"]}}\n' > inv.json
for slow in bogusA bogusB; do
	FAKE_SLOW_VALIDATE=$slow "$V" sweep inv.json -o D -j 4 2>err; rc=$?
	[ $rc = 2 ] && grep -qF 'inv.json: point 1 (scheduler.policy="bogusA"): the scenario is invalid' err &&
		[ "$(wc -l < err)" = 1 ] && [ ! -e D ] && ok "several invalid points, $slow slow: $(cat err)" ||
		fail "several invalid points, $slow slow: rc $rc, $(cat err)"
done

# --- a changed sweep into an old directory is refused
sed 's/"replicates": 3/"replicates": 4/' sw.json > sw2.json
"$V" sweep sw2.json -o A 2>err; rc=$?
[ $rc = 2 ] && grep -q 'holds the results of a different sweep' err && ok "changed sweep refused: $(head -1 err | cut -c1-100)..." ||
	fail "changed sweep: rc $rc, $(cat err)"
# ... and so is a changed base scenario
sed 's/"pcpus": 4/"pcpus": 6/' base.json > base2.json && mv base2.json base.json
"$V" sweep sw.json -o A 2>err; [ $? = 2 ] && ok "changed base scenario refused" || fail "changed base accepted"
mkdir E && touch E/x && "$V" sweep sw.json -o E 2>err; [ $? = 2 ] && grep -q 'not a sweep' err || fail "non-empty non-sweep dir accepted"

# --- resuming reads back and rewrites files of DIR: anything planted there is
# refused up front (exit 2 naming the file), never read without bound or blocked
# on (issue 13, item 9). A is a finished sweep of the current sw.json again.
rm -rf A && "$V" sweep sw.json -o A -j 2 2>/dev/null || fail "sweep into A"
cp A/sweep.json sweep.json.keep
resume_refused() { # WHAT PATTERN: resume A, expect exit 2 naming the file
	timeout 60 "$V" sweep sw.json -o A -j 2 2>err; rc=$?
	[ $rc = 2 ] && grep -qF -- "$2" err && ok "resume with $1: $(head -1 err)" || fail "resume with $1: rc $rc, $(cat err)"
}
rm A/sweep.json && ln -s /dev/zero A/sweep.json
resume_refused "sweep.json -> /dev/zero" "A/sweep.json: not a regular file"
rm A/sweep.json && head -c 1048576 /dev/zero > A/sweep.json
resume_refused "sweep.json of NUL bytes" "A/sweep.json: cannot read: not text"
rm A/sweep.json && truncate -s 300M A/sweep.json
resume_refused "a 300 MB sparse sweep.json" "A/sweep.json: cannot read: file too large (more than 256 MiB)"
cp sweep.json.keep A/sweep.json
for f in results.csv summary.csv runs/p0001_s1.json; do
	mv "A/$f" keep && mkfifo "A/$f"
	resume_refused "$f a FIFO" "A/$f is not a regular file (a FIFO)"
	rm "A/$f" && ln -s /dev/zero "A/$f"
	resume_refused "$f -> /dev/zero" "A/$f is not a regular file (a device)"
	rm "A/$f" && mv keep "A/$f"
done
# results.csv is only ever rewritten, never read: a huge one does not slow a resume
cp A/results.csv results.keep && truncate -s 8G A/results.csv
timeout 60 "$V" sweep sw.json -o A -j 2 2>err && cmp -s A/results.csv results.keep &&
	ok "a resume over an 8 GB results.csv rewrites it" || fail "huge results.csv: $(cat err)"

[ $fails = 0 ] && echo "test_sweep: all passed" || { echo "test_sweep: $fails failed"; exit 1; }
