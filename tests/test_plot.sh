#!/usr/bin/env bash
# test_plot.sh: `vcpusim plot` on a sweep made with the fake runner: every figure
# kind gives a non-empty PNG and SVG; a malformed results directory, or flags that
# name nothing in it, exit 2 with a message naming the file (and line).
# Usage: bash test_plot.sh VCPUSIM SOURCE_DIR
set -u
V=$(realpath "$1"); SRC=$(realpath "$2")
export VCPUSIM_SWEEP_RUNNER=$SRC/tests/sweep_fake_runner.sh
T=$(mktemp -d "${TMPDIR:-/tmp}/vcpusim-test-plot.XXXXXX")
trap 'rm -rf "$T"' EXIT
cd "$T"
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

cat > sw.json <<'EOF'
{"base": {"name": "t", "seed": 1, "host": {"pcpus": 4}, "scheduler": {"policy": "credit"},
          "vms": [{"name": "par", "vcpus": 4, "workload": {"kind": "npb", "kernel": "lu"}},
                  {"name": "hog", "count": 1, "vcpus": 4, "workload": {"kind": "cpu_bound"}}]},
 "vary": {"scheduler.policy": ["credit", "gang", "asman"], "vms[0].workload.kernel": ["lu", "cg"]},
 "zip": [{"host.pcpus": [4, 8]}],
 "replicates": 2}
EOF
"$V" sweep sw.json -o S -j 2 2>err || { fail "sweep: $(cat err)"; exit 1; }

figure_ok() { # PLOTDIR KIND
	local png=$1/$2.png svg=$1/$2.svg
	[ -s "$png" ] && [ "$(head -c 8 "$png" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
		[ -s "$svg" ] && grep -q '<svg' "$svg" && grep -q '</svg>' "$svg" &&
		[ -s "$1/$2.dat" ] && [ -s "$1/$2.gp" ]
}
for kind in bars lines hist; do
	"$V" plot S -o P_$kind --kind $kind > out 2> err
	rc=$?
	if [ $rc = 0 ] && figure_ok P_$kind $kind && grep -q "P_$kind/$kind.png" out; then
		ok "--kind $kind: non-empty PNG and SVG ($(stat -c %s P_$kind/$kind.png) and $(stat -c %s P_$kind/$kind.svg) bytes)"
	else
		fail "--kind $kind: rc $rc, $(cat err)"
	fi
	ls P_$kind | grep -q part && fail "--kind $kind left partial files"
done
"$V" plot S > out 2> err && figure_ok S/plots bars && figure_ok S/plots lines && figure_ok S/plots hist &&
	ok "default: all three kinds in DIR/plots" || fail "default plot: $(cat err)"
# bars of completion grouped by policy are normalised to credit by default
awk -F'\t' 'NR > 1 && $2 != 1 { bad = 1 } END { exit bad }' S/plots/bars.dat &&
	grep -q 'relative to credit' S/plots/bars.gp && ok "bars normalised to credit by default" || fail "bars not normalised to credit"
"$V" plot S -o P2 --kind bars --x host.pcpus --group vms[0].workload.kernel --y host.utilization \
	--normalise-to none --where scheduler.policy=gang > /dev/null 2> err && figure_ok P2 bars &&
	[ "$(wc -l < P2/bars.dat)" = 3 ] && ok "flags: --x --group --y --normalise-to none --where" || fail "flags: $(cat err)"
"$V" plot S -o P3 --kind lines --x host.pcpus --normalise-to gang > /dev/null 2> err && figure_ok P3 lines &&
	ok "lines with --x and --normalise-to" || fail "lines with --x: $(cat err)"
"$V" plot S -o P4 --kind hist --vm par --group none > /dev/null 2> err && figure_ok P4 hist ||
	fail "hist --vm par --group none: $(cat err)"
# deterministic: same inputs, same data and scripts
"$V" plot S -o P5 > /dev/null 2>&1
for f in bars.dat bars.gp lines.dat hist.dat; do cmp -s S/plots/$f P5/$f || fail "$f differs between two plots"; done

# --logy, --pdf, --title/--xlabel/--ylabel: a log axis, a PDF beside the PNG and
# SVG, the user's strings escaped into the script (a quote, double quotes, a
# backslash, backquotes: gnuplot runs `...` outside single quotes) and drawn as
# given; nothing of gnuplot's own output on stderr
for kind in bars lines hist; do
	"$V" plot S -o PL_$kind --kind $kind --logy --pdf --title "it's \"q\" \\ \`id\`" \
		--xlabel "x'l" --ylabel 'y"l' > out 2> err
	rc=$?
	if [ $rc = 0 ] && figure_ok PL_$kind $kind && [ "$(head -c 5 PL_$kind/$kind.pdf)" = "%PDF-" ] &&
		grep -q "PL_$kind/$kind.pdf" out && grep -q '^logy = 1$' PL_$kind/$kind.gp &&
		grep -qF "title = 'it''s \"q\" \\ \`id\`'" PL_$kind/$kind.gp &&
		grep -qF "it's \"q\" \\ \`id\`" PL_$kind/$kind.svg && grep -qF "x'l" PL_$kind/$kind.svg; then
		ok "--kind $kind --logy --pdf --title/--xlabel/--ylabel"
	else
		fail "--kind $kind --logy --pdf --title: rc $rc, $(cat err)"
	fi
	grep -v '^vcpusim plot: ' err && fail "--kind $kind: gnuplot output passed through"
done
grep -q 'set logscale y' PL_bars/bars.gp && ! grep -q '^logy = 1' S/plots/bars.gp && ok "--logy only when asked" ||
	fail "--logy: logy set in the default plot"
[ -e S/plots/bars.pdf ] && fail "a PDF without --pdf"

# --- malformed input: exit 2, message names the file
expect2() { # WHAT PATTERN ARGS...
	local what=$1 pat=$2; shift 2
	"$V" plot "$@" > /dev/null 2> err; rc=$?
	if [ $rc = 2 ] && grep -qF -- "$pat" err; then ok "$what: $(head -1 err)"; else fail "$what: rc $rc, $(cat err)"; fi
}
expect2 "no such dir" "nope: not a directory" nope
mkdir empty
expect2 "dir without results.csv" "empty: no results.csv" empty
mkdir M; cp -r S/runs M/
printf 'point,x,y\n0,1,2\n' > M/results.csv
expect2 "bad header" "M/results.csv: line 1: expected the header" M
{ head -1 S/results.csv; sed -n 2p S/results.csv | cut -d, -f1-5; } > M/results.csv
expect2 "short row" "M/results.csv: line 2:" M
{ head -2 S/results.csv; sed -n 3p S/results.csv | sed 's/,ok,\([^,]*\),/,ok,abc,/'; } > M/results.csv
expect2 "non-numeric metric" "M/results.csv: line 3: sim_ms: expected a number" M
{ head -1 S/results.csv; sed -n 2p S/results.csv | sed 's/,ok,/,done,/'; } > M/results.csv
expect2 "bad status" "M/results.csv: line 2: status" M
printf 'point,x\n"0,1\n' > M/results.csv
expect2 "unterminated quote" "M/results.csv: line 2: unterminated quoted field" M
: > M/results.csv
expect2 "empty results.csv" "M/results.csv: line 1" M
head -1 S/results.csv > M/results.csv
expect2 "no runs" "no successful run" M
cp S/results.csv M/results.csv; rm M/runs/p0000_s1.json
expect2 "a run's JSON missing (hist)" "M/runs/p0000_s1.json: cannot open" M --kind hist
echo '{"vms": [{"name": "par", "spin": {"histogram_log2_cycles": [1, "x"]}}]}' > M/runs/p0000_s1.json
expect2 "bad histogram" "histogram_log2_cycles[1]: expected a count" M --kind hist
echo '{"vms": [' > M/runs/p0000_s1.json
expect2 "run JSON broken" "M/runs/p0000_s1.json: invalid JSON" M --kind hist
expect2 "unknown --x" "--x nope: not a varied key" S --x nope
expect2 "unknown --group" "--group nope: not a varied key" S --group nope
expect2 "unknown --y" "--y nope: no such metric" S --y nope
expect2 "bad --kind" "--kind pie" S --kind pie
expect2 "bad --normalise-to" "--normalise-to rr: no such value" S --kind bars --normalise-to rr
expect2 "non-numeric lines x" "lines need a numeric key" S --kind lines --x scheduler.policy
expect2 "bad --where" "--where nope=1" S --where nope=1

# A long title breaks its line after every "; " (a figure with censored runs said
# so in a title the canvas cut on both sides): the figure's own script's wrap()
if command -v gnuplot >/dev/null; then
	w=$(gnuplot -e "$(grep '^wrap(s) = ' PL_lines/lines.gp); print wrap('a; b c; d'); print wrap('e')" 2>&1)
	[ "$w" = "$(printf 'a;\nb c;\nd\ne')" ] && grep -q '^set title wrap(title)' PL_lines/lines.gp &&
		ok "long titles break after '; '" || fail "title wrap: $w"
fi

[ $fails = 0 ] && echo "test_plot: all passed" || { echo "test_plot: $fails failed"; exit 1; }
