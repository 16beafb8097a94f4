#!/usr/bin/env bash
# test_install.sh: `cmake --install` into a temporary prefix gives a working tool
# (issue 14, item 1): the binary, the capture library found relative to the
# installed binary (also after the prefix is moved), the samples, the docs, a man
# page that documents every command and option the binary's --help shows, and
# bash/zsh completions that load and complete.
# Usage: bash test_install.sh VCPUSIM SOURCE_DIR
set -u
V=$(realpath "$1"); SRC=$(realpath "$2")
B=$(dirname "$V")
T=$(mktemp -d "${TMPDIR:-/tmp}/vcpusim-test-install.XXXXXX")
trap 'rm -rf "$T"' EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# cmake --install rewrites the build dir's install_manifest.txt, which `make
# uninstall` reads: keep the user's.
M=$B/install_manifest.txt
[ -e "$M" ] && cp -p "$M" "$T/manifest.saved"
restore() { if [ -e "$T/manifest.saved" ]; then cp -p "$T/manifest.saved" "$M"; else rm -f "$M"; fi; }
trap 'restore; rm -rf "$T"' EXIT
P=$T/prefix
if ! cmake --install "$B" --prefix "$P" >"$T/install.log" 2>&1; then
	fail "cmake --install failed: $(tail -5 "$T/install.log")"
	exit 1
fi
for f in bin/vcpusim lib/vcpusim/libvcpusim_capture.so share/man/man1/vcpusim.1 \
	share/bash-completion/completions/vcpusim share/zsh/site-functions/_vcpusim \
	share/vcpusim/scenarios/examples/weights.json share/vcpusim/schemas/scenario.schema.json \
	share/vcpusim/traces/samples/stencil-2t.vtr share/doc/vcpusim/README.md \
	share/doc/vcpusim/docs/model.md share/doc/vcpusim/docs/scenario.md; do
	[ -e "$P/$f" ] || fail "not installed: $f"
done
[ -n "$(find "$P/share/vcpusim" -name spinlocks.json -path '*sweeps*')" ] || fail "the example sweeps are not installed"
[ -x "$P/bin/vcpusim" ] && ok "installed files present"

# Move the prefix: nothing may depend on where it was installed.
mv "$P" "$T/moved"; P=$T/moved
PV=$P/bin/vcpusim
[ -e "$P/bin/libvcpusim_capture.so" ] && fail "the library is next to the installed binary: the test would not test the lookup"
"$PV" --version >/dev/null || fail "installed vcpusim --version"
for s in "$P"/share/vcpusim/scenarios/examples/*.json; do
	"$PV" validate "$s" 2>"$T/err" || fail "installed sample $(basename "$s") does not validate: $(cat "$T/err")"
done
"$PV" run "$P/share/vcpusim/scenarios/examples/weights.json" -o "$T/r.json" --quiet ||
	fail "installed vcpusim cannot run an installed sample"

# capture from the installed (and moved) tree, with no hint where the library is:
# 3 regions x (5 barriers, 7 omp locks, 4 criticals), 2 threads -> per thread 18
# barriers and 33 acquisitions (as tests/test_trace_capture.sh).
cd "$T" || exit 1
if env -u VCPUSIM_CAPTURE_LIB "$PV" capture -o c.vtr --threads 2 -- "$B/trace-programs/counts" 3 5 7 4 \
	>/dev/null 2>"$T/err"; then
	"$PV" trace info c.vtr >info 2>&1 || fail "trace info of the capture: $(cat info)"
	got=$(awk '/^per thread:/ {p=1; next} p && ($1 == 0 || $1 == 1) {print $3, $4}' info | tr '\n' ' ')
	[ "$got" = "18 33 18 33 " ] && ok "capture from the installed tree: 2 threads, 18 barriers and 33 acquisitions each" ||
		fail "capture from the installed tree: per-thread barriers/acquisitions '$got', expected '18 33 18 33 '"
else
	fail "capture from the installed tree failed: $(cat "$T/err")"
fi
# and it says where it looked when the library is gone
mv "$P/lib/vcpusim/libvcpusim_capture.so" "$T/lib.so"
env -u VCPUSIM_CAPTURE_LIB "$PV" capture -o d.vtr -- /bin/true >/dev/null 2>"$T/err"; rc=$?
[ $rc = 2 ] && grep -q 'capture library not found' "$T/err" && ok "missing library: exit 2 with a message" ||
	fail "missing library: exit $rc, $(cat "$T/err")"
mv "$T/lib.so" "$P/lib/vcpusim/libvcpusim_capture.so"

# The man page: renders without warnings, and documents every command of --help
# and every option of each command's --help (roff writes a dash as \-).
MAN=$P/share/man/man1/vcpusim.1
if command -v man >/dev/null; then
	w=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$MAN" 2>&1 >/dev/null)
	[ -z "$w" ] && ok "man page renders without warnings" || fail "man page warnings: $w"
	LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$MAN" 2>/dev/null | grep -q 'EXIT STATUS' || fail "man page does not render"
else
	echo "note: man is not installed; rendering not checked (the coverage below is)"
fi
cmds=$("$PV" --help | awk '/^commands:/ {p=1; next} p && /^  [a-z]/ {print $1} p && /^$/ {p=0}')
[ -n "$cmds" ] || fail "no commands found in vcpusim --help"
for c in $cmds; do
	grep -q "^\.SS \"vcpusim $c" "$MAN" || { fail "man page: no section for command '$c'"; continue; }
	"$PV" $c --help 2>/dev/null | grep -o -E '(^|[][ (,|])--?[a-zA-Z][a-zA-Z0-9-]*' |
		sed -E 's/^[][ (,|]//' | sort -u > "$T/opts"
	while read -r o; do
		esc=${o//-/\\-}
		grep -q -F -- "$esc" "$MAN" || fail "man page: '$c' option $o is not documented"
	done < "$T/opts"
done
[ $fails = 0 ] && ok "man page documents every command ($(echo $cmds | wc -w)) and their options"

# bash completion: loads, completes commands, options and list's argument.
BC=$P/share/bash-completion/completions/vcpusim
comp() {  # comp WORD... : COMPREPLY for the last word, one line
	bash -c 'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vcpusim; echo "${COMPREPLY[*]}"' \
		_ "$BC" "$@" 2>&1
}
[ "$(comp vcpusim ru)" = "run" ] || fail "bash completion 'vcpusim ru': '$(comp vcpusim ru)'"
[ "$(comp vcpusim list '')" = "policies workloads" ] || fail "bash completion 'vcpusim list': '$(comp vcpusim list '')'"
[ "$(comp vcpusim sweep s.json --dr)" = "--dry-run" ] || fail "bash completion 'sweep --dr': '$(comp vcpusim sweep s.json --dr)'"
[ "$(comp vcpusim plot out --kind h)" = "hist" ] || fail "bash completion 'plot --kind h': '$(comp vcpusim plot out --kind h)'"
# the policy names come from the installed binary (bash splits at '=')
got=$(PATH="$P/bin:$PATH" comp vcpusim run --set scheduler.policy = g)
[ "$got" = "gang" ] || fail "bash completion of a policy name: '$got'"
for c in $cmds; do
	case " $(comp vcpusim '') " in *" $c "*) ;; *) fail "bash completion does not offer command '$c'" ;; esac
done
ok "bash completion checked"

# zsh completion: installed from Debian if missing, as a user would; the file must
# parse and define _vcpusim.
if ! command -v zsh >/dev/null; then
	VCPUSIM_EXTRA_PKGS=zsh "$SRC/scripts/deps.sh" >/dev/null 2>&1
fi
if command -v zsh >/dev/null; then
	zsh -n "$P/share/zsh/site-functions/_vcpusim" 2>"$T/err" || fail "zsh completion does not parse: $(cat "$T/err")"
	out=$(zsh -f -c 'fpath=("$1" $fpath); autoload -Uz compinit; compinit -u -d "$2/zcd"; print -r -- ${_comps[vcpusim]}' \
		_ "$P/share/zsh/site-functions" "$T" 2>&1)
	[ "$out" = "_vcpusim" ] && ok "zsh completion parses and is registered for vcpusim" ||
		fail "zsh: compinit did not register _vcpusim for vcpusim: '$out'"
else
	echo "note: zsh could not be installed here (no apt access); its completion was not loaded"
fi

[ $fails = 0 ] || { echo "$fails failure(s)" >&2; exit 1; }
echo "all install checks passed"
