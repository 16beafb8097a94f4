#!/usr/bin/env bash
# slurm_cluster.sh: docs/slurm.md, run for real. Installs Debian's slurm-wlm and
# munge when missing (as scripts/deps.sh installs the suite's packages), starts a
# private munged and a one-node Slurm cluster on this host (slurmctld + slurmd, a
# minimal slurm.conf in a temporary directory, ports of its own), extracts the job
# array, the merge job and the submission commands from docs/slurm.md and runs them
# as written, waits for the merge, compares the merged tables with an unsharded
# sweep byte for byte, and stops the daemons it started.
# Skipped (exit 77, with the reason) when not root, when a Slurm controller already
# runs here, or when the packages cannot be installed. ctest label "slurm".
# Usage: bash slurm_cluster.sh VCPUSIM SOURCE_DIR
set -u
V=$(realpath "$1"); SRC=$(realpath "$2")
skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (installs packages, runs slurmd)"
if command -v pgrep > /dev/null && pgrep -x slurmctld > /dev/null; then
	skip "a Slurm controller already runs on this host; not touching it"
fi
need=
for p in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
	command -v "${p%%:*}" > /dev/null || need="$need ${p#*:}"
done
if [ -n "$need" ]; then
	echo "installing:$need"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need > /tmp/vcpusim-slurm-apt.log 2>&1 ||
		{ DEBIAN_FRONTEND=noninteractive apt-get update -q > /dev/null 2>&1 &&
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need > /tmp/vcpusim-slurm-apt.log 2>&1; } ||
		skip "cannot install$need ($(tail -1 /tmp/vcpusim-slurm-apt.log))"
fi
# the packages' own services, if their install started any, are left alone; ours
# use their own socket, ports, spool and state directories

T=$(mktemp -d "${TMPDIR:-/tmp}/vcpusim-test-slurm.XXXXXX")
chmod 755 "$T"
cleanup() { # the daemons this test started (their pid files), then the files
	[ -n "${SLURM_CONF:-}" ] && scancel --user=root > /dev/null 2>&1
	local dpids=
	for f in "$T"/slurmd.pid "$T"/slurmctld.pid "$T"/munged.pid; do
		[ -s "$f" ] && dpids="$dpids $(cat "$f")"
	done
	[ -n "$dpids" ] && kill $dpids 2> /dev/null
	for _ in $(seq 50); do
		local alive=
		for p in $dpids; do kill -0 "$p" 2> /dev/null && alive=1; done
		[ -z "$alive" ] && break
		sleep 0.2
	done
	for p in $dpids; do kill -0 "$p" 2> /dev/null && kill -9 "$p" 2> /dev/null; done
	rm -rf "$T"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# munge: a private key and socket
# (munged runs as root here, --force, so its files are root's)
mkdir -p "$T/munge"
chmod 700 "$T/munge"
dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$T/munge/munge.key"
munged --force --socket="$T/munge/sock" --key-file="$T/munge/munge.key" \
	--pid-file="$T/munged.pid" --log-file="$T/munge/log" --seed-file="$T/munge/seed" ||
	skip "munged does not start here: $(tail -2 "$T/munge/log" 2> /dev/null)"
munge -S "$T/munge/sock" -n | unmunge -S "$T/munge/sock" > /dev/null || skip "munge does not work here"

# a one-node cluster: this host, its CPUs, free ports
host=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ { print int($2 / 1024 * 0.8) }' /proc/meminfo)
port=$((20000 + RANDOM % 20000))
mkdir -p "$T/spool" "$T/state"
cat > "$T/slurm.conf" <<END
ClusterName=vcpusimtest
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$T/munge/sock
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MailProg=/bin/true
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP
END
export SLURM_CONF=$T/slurm.conf
slurmctld -f "$SLURM_CONF" || skip "slurmctld does not start: $(tail -3 "$T/slurmctld.log" 2> /dev/null)"
slurmd -f "$SLURM_CONF" || skip "slurmd does not start: $(tail -3 "$T/slurmd.log" 2> /dev/null)"
up=
for _ in $(seq 60); do
	sinfo -h -o %t 2> /dev/null | grep -qx 'idle' && { up=1; break; }
	sleep 1
done
[ -n "$up" ] || skip "the node does not come up: $(sinfo 2>&1 | tail -2); $(tail -3 "$T/slurmd.log")"
ok "one-node cluster up: $host, $cpus CPUs ($(sinfo -h -o '%P %D %c %t'))"

# docs/slurm.md, as written: two scripts and the submission block
doc=$SRC/docs/slurm.md
block() { # the fenced block after the line that starts with $1
	awk -v want="$1" 'found == 2 && /^```$/ { exit } found == 2 { print }
		found == 1 && /^```/ { found = 2; next } index($0, want) == 1 { found = 1 }' "$doc"
}
W=$T/work
mkdir -p "$W/build"
ln -s "$SRC/scenarios" "$W/scenarios"
ln -s "$V" "$W/build/vcpusim"   # the doc's default binary, build/vcpusim
block '`sweep-array.sbatch`' > "$W/sweep-array.sbatch"
block '`sweep-merge.sbatch`' > "$W/sweep-merge.sbatch"
block 'Submit both' > "$W/submit.sh"
grep -q 'srun "$VCPUSIM" sweep' "$W/sweep-array.sbatch" && grep -q 'afterany' "$W/submit.sh" &&
	grep -q -- '--merge' "$W/sweep-merge.sbatch" || fail "could not extract the scripts from $doc"
(cd "$W" && bash -e submit.sh > submit.out 2>&1) || fail "submission: $(cat "$W/submit.out")"
done=
for _ in $(seq 600); do
	[ -z "$(squeue -h 2> /dev/null)" ] && { done=1; break; }
	sleep 1
done
[ -n "$done" ] || fail "jobs still queued after 10 minutes: $(squeue)"
shards=$(ls -d "$W"/results/overcommit/shard-* 2> /dev/null | wc -l)
alogs=$(ls "$W"/logs/vcpusim-sweep-*_*.out 2> /dev/null | wc -l)
mlogs=$(ls "$W"/logs/vcpusim-merge-*.out 2> /dev/null | wc -l)
[ "$shards" = 8 ] && [ "$alogs" = 8 ] && [ "$mlogs" = 1 ] &&
	ok "Slurm ran the 8 array tasks and then the merge job ($(tr '\n' ' ' < "$W/submit.out"))" ||
	fail "$shards shard directories, $alogs array logs, $mlogs merge logs: $(cat "$W"/logs/* 2> /dev/null | tail -5)"

# the merged tables equal an unsharded sweep's
"$V" sweep "$SRC/scenarios/sweeps/overcommit.json" -o "$T/local" -j "$cpus" 2> "$T/local.err" || fail "local sweep: $(cat "$T/local.err")"
if cmp -s "$T/local/results.csv" "$W/results/overcommit/all/results.csv" &&
   cmp -s "$T/local/summary.csv" "$W/results/overcommit/all/summary.csv"; then
	ok "merged tables of the Slurm array equal the unsharded sweep ($(($(wc -l < "$T/local/results.csv") - 1)) runs)"
else
	fail "merged tables differ from the local sweep; merge log: $(cat "$W"/logs/vcpusim-merge-* 2> /dev/null | tail -5)"
fi
[ -s "$W/results/overcommit/all/plots/lines.png" ] || [ -s "$W/results/overcommit/all/plots/bars.png" ] &&
	ok "the merge job drew the figures" || fail "no figures from the merge job"

[ $fails = 0 ] && echo "slurm_cluster: all passed" || { echo "slurm_cluster: $fails failed"; exit 1; }
