#!/usr/bin/env bash
# capture-samples.sh: captures the sample traces in traces/samples/ (docs/traces.md)
# from the programs in traces/programs/, with 2 threads. Each is captured RUNS times
# (default 5) and the run of median duration is kept, because other processes on a
# 2-core machine disturb single runs (shared/spec/kvm-ground-truth.md).
# usage: scripts/capture-samples.sh [BUILD_DIR] [RUNS]
set -eu
build=${1:-build}
runs=${2:-5}
out=traces/samples
vcpusim=$build/vcpusim
progs=$build/trace-programs
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
capture() {  # NAME PROGRAM ARGS...
  name=$1; shift
  for i in $(seq "$runs"); do
    "$vcpusim" capture -o "$tmp/$name-$i.vtr" --threads 2 -- "$@" >/dev/null 2>"$tmp/log"
    ms=$(grep -o '[0-9.]* ms traced' "$tmp/log" | cut -d' ' -f1)
    echo "$ms $tmp/$name-$i.vtr"
  done | sort -n >"$tmp/$name.runs"
  pick=$(sed -n "$(( (runs + 1) / 2 ))p" "$tmp/$name.runs" | cut -d' ' -f2)
  cp "$pick" "$out/$name-2t.vtr"
  echo "$name: runs (ms): $(cut -d' ' -f1 "$tmp/$name.runs" | tr '\n' ' ')-> kept $(sed -n "$(( (runs + 1) / 2 ))p" "$tmp/$name.runs" | cut -d' ' -f1) ms"
}
capture stencil "$progs/stencil" 60000 24000
capture histogram "$progs/histogram" 40000 6000
capture ep "$progs/ep" 300000000
