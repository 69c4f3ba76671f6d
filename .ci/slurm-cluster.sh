#!/usr/bin/env bash
# A throw-away single-node Slurm (Debian's Slurm 22.05) for the tests, as root, without systemd.
#
#   bash .ci/slurm-cluster.sh up     install if needed, start munged, slurmctld, slurmd; prints
#                                    `export SLURM_CONF=...` for the caller to eval
#   bash .ci/slurm-cluster.sh down   stop what `up` started (by PID file) and remove the state
#
# SLURM_TEST_ROOT (default /tmp/clipscale-slurm) holds config, state, logs and PID files.
# SLURM_TEST_CPUS (default: the machine's cores) is what the node advertises.
set -euo pipefail

ROOT=${SLURM_TEST_ROOT:-/tmp/clipscale-slurm}
CPUS=${SLURM_TEST_CPUS:-$(nproc)}
CONF=$ROOT/etc/slurm.conf
export SLURM_CONF=$CONF
log() { printf '[slurm %s] %s\n' "$(date +%T)" "$*" >&2; }

install_pkgs() {
    if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null && command -v munged >/dev/null; then
        return 0
    fi
    log "installing slurmctld slurmd slurm-client munge"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
}

write_conf() {
    mkdir -p "$ROOT"/{etc,state,spool,log,run}
    cat > "$CONF" <<CONF
# Single-node Slurm for clipscale's tests; everything under $ROOT.
ClusterName=clipscale-test
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$ROOT/state
SlurmdSpoolDir=$ROOT/spool
SlurmctldPidFile=$ROOT/run/slurmctld.pid
SlurmdPidFile=$ROOT/run/slurmd.pid
SlurmctldLogFile=$ROOT/log/slurmctld.log
SlurmdLogFile=$ROOT/log/slurmd.log
# no cgroups here: track jobs by process group, no task binding
ProctrackType=proctrack/pgid
TaskPlugin=task/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$ROOT/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
MpiDefault=none
# a requeued task waits cred_expire seconds before it may run again (default 120)
AuthInfo=cred_expire=10
ReturnToService=2
MaxArraySize=10001
MinJobAge=600
KillWait=5
Waittime=0
InactiveLimit=0
NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=1024 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0
    fi
    [ -s /etc/munge/munge.key ] || { /usr/sbin/mungekey --create 2>/dev/null || /usr/sbin/create-munge-key -f; chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key; }
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
    for _ in $(seq 1 50); do [ -s /run/munge/munged.pid ] && break; sleep 0.1; done
    cp /run/munge/munged.pid "$ROOT/run/munged.pid"
    munge -n | unmunge >/dev/null
}

alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }

start_slurm() {
    if [ -s "$ROOT/run/slurmctld.pid" ] && alive "$(cat "$ROOT/run/slurmctld.pid")"; then
        log "slurmctld already running"
    else
        /usr/sbin/slurmctld -i
    fi
    if [ -s "$ROOT/run/slurmd.pid" ] && alive "$(cat "$ROOT/run/slurmd.pid")"; then
        log "slurmd already running"
    else
        /usr/sbin/slurmd -N localhost
    fi
    for _ in $(seq 1 150); do
        sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)$' && return 0
        sleep 0.2
    done
    log "the node did not become idle"
    sinfo -R || true
    tail -n 30 "$ROOT"/log/*.log >&2 || true
    return 1
}

stop_pidfile() {
    local f=$1 pid
    [ -s "$f" ] || return 0
    pid=$(cat "$f")
    if alive "$pid"; then
        kill "$pid"
        for _ in $(seq 1 150); do alive "$pid" || break; sleep 0.1; done
        alive "$pid" && kill -9 "$pid" || true
    fi
    rm -f "$f"
}

case "${1:-}" in
    up)
        install_pkgs
        [ -f "$CONF" ] || write_conf
        start_munge
        start_slurm
        log "up: $(sinfo -h -o '%P %D %T %c' 2>/dev/null)"
        echo "export SLURM_CONF=$CONF"
        ;;
    down)
        scancel --user=root 2>/dev/null || true
        sleep 1
        for f in slurmd slurmctld munged; do stop_pidfile "$ROOT/run/$f.pid"; done
        rm -rf "$ROOT"
        ;;
    *)
        echo "usage: $0 up|down" >&2
        exit 2
        ;;
esac
