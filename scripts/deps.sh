#!/usr/bin/env bash
# Installs the Debian packages vcpusim needs, only those missing, so that a fresh
# machine can run `make demo` / `make test` and nothing else (DEVELOPERS.md).
set -eu
pkgs="cmake make gcc pkg-config libgsl-dev libcjson-dev gnuplot-nox python3 libopen-trace-format2-dev"
[ "${VCPUSIM_EXTRA_PKGS:-}" ] && pkgs="$pkgs $VCPUSIM_EXTRA_PKGS"
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
