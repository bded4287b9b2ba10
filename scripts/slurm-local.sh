#!/usr/bin/env bash
# Starts a real single-node Slurm cluster on this machine (localhost only) for the sweep integration test
# (`FUSEC_TEST_SLURM=1 cargo test --locked sweep_slurm`, run by .ci/run): installs Debian's slurm-wlm and munge
# when they are missing (needs root and apt), writes slurm.conf and cgroup.conf for one node with this machine's
# CPUs and memory, starts munged, slurmctld and slurmd, and waits until `sinfo` shows the node idle.
# Idempotent: daemons already running are left running. `scripts/slurm-local.sh stop` stops them.
# Exits non-zero with the reason (and the daemons' last log lines) when the cluster cannot start.
set -euo pipefail

CONF_DIR=/etc/slurm
LOG_DIR=/var/log/slurm
SPOOL=/var/spool

fail() {
  echo "slurm-local: $*" >&2
  for f in "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log"; do
    [ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}

if [ "${1:-}" = stop ]; then
  for d in slurmd slurmctld munged; do
    pid=$(pidof "$d" || true)
    [ -n "$pid" ] && kill $pid
  done
  exit 0
fi

[ "$(id -u)" = 0 ] || fail "needs root (it installs packages and starts system daemons)"

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  command -v apt-get >/dev/null || fail "slurm-wlm and munge are not installed and there is no apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || fail "apt-get update failed"
  apt-get install -y -qq slurm-wlm munge >/dev/null || fail "apt-get install slurm-wlm munge failed"
fi

host=$(hostname -s)
# slurmd finds its node by this name and slurmctld must resolve it: localhost only.
if ! getent hosts "$host" >/dev/null; then
  echo "127.0.0.1 $host" >>/etc/hosts
fi
cpus=$(nproc)
mem_mb=$(awk '/MemTotal/ { print int($2 / 1024 * 0.8) }' /proc/meminfo)

mkdir -p "$CONF_DIR" "$LOG_DIR" "$SPOOL/slurmctld" "$SPOOL/slurmd" /run/munge /var/lib/munge /var/log/munge
cat >"$CONF_DIR/slurm.conf" <<CONF
# Written by fusec's scripts/slurm-local.sh: one node, this machine, localhost only.
ClusterName=fusec-local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$SPOOL/slurmctld
SlurmdSpoolDir=$SPOOL/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
# No cgroups: containers seldom let slurmd manage them; processes are tracked through /proc.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# Finished jobs stay visible to scontrol for an hour (there is no accounting database for sacct).
MinJobAge=3600
SlurmdTimeout=60
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
cat >"$CONF_DIR/cgroup.conf" <<CONF
# Written by fusec's scripts/slurm-local.sh. slurm.conf uses proctrack/linuxproc and task/none, so no cgroup
# plugin is loaded; this file only keeps slurmd from looking for systemd if one is configured later.
CgroupPlugin=autodetect
IgnoreSystemd=yes
CONF

if [ ! -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null; then mungekey --create --force; else
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; fi
fi
chown -R munge:munge /etc/munge /run/munge /var/lib/munge /var/log/munge 2>/dev/null || true
chmod 0400 /etc/munge/munge.key
chmod 0700 /etc/munge

if ! pidof munged >/dev/null; then
  if id munge >/dev/null 2>&1; then
    runuser -u munge -- munged || fail "munged did not start (see /var/log/munge/munged.log)"
  else
    munged --force || fail "munged did not start"
  fi
fi
munge -n | unmunge >/dev/null || fail "munge cannot encode and decode a credential"

if ! pidof slurmctld >/dev/null; then
  slurmctld -i || fail "slurmctld did not start"
fi
if ! pidof slurmd >/dev/null; then
  slurmd || fail "slurmd did not start"
fi

for _ in $(seq 1 60); do
  state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -n 1 || true)
  case "$state" in
    idle|mixed|allocated) echo "slurm-local: node $host is $state ($cpus CPUs, $mem_mb MB)"; exit 0 ;;
    down*|drain*) scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 1
done
fail "the node did not become idle within 60 s (sinfo says: ${state:-nothing})"
