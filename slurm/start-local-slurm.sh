#!/usr/bin/env bash
# Start a real SLURM on this machine, for tests and CI (see /work/shared/SLURM_NOTES.md).
#
# munged, mariadbd (unix socket only), slurmdbd, slurmctld and one slurmd per node run detached
# (setsid), all on 127.0.0.1, without systemd or cgroups; their PIDs go to $STBENCH_SLURM_STATE/pids
# so that stop-local-slurm.sh stops exactly these processes. The accounting database and the
# controller state are reset on each start (job ids restart at 1). Each node advertises two
# placeholder GPUs so GPU requests are scheduled (the code then runs on CPU).
#
# STBENCH_SLURM_NODES=2 (the default) starts two nodes, stbench-n1 and stbench-n2, each its own
# slurmd (`slurmd -N NAME`) on 127.0.0.1 with its own port, spool and log: a job with `nodes: 2`
# really runs one task per slurmd, so multi-node DDP is exercised without network namespaces. Each
# node advertises the whole machine (they share its CPUs). STBENCH_SLURM_NODES=1 starts the single
# node named after this host.
#
# Needs root. Installs the Debian packages with apt-get when they are missing.
# Exit codes: 0 started (or already running: prints "already running"), 1 failure.
set -euo pipefail

STATE=${STBENCH_SLURM_STATE:-/var/lib/stbench-slurm}
CONF=/etc/slurm
GPUS=${STBENCH_SLURM_GPUS:-2}
NODES=${STBENCH_SLURM_NODES:-2}
SLURMD_PORT0=6820  # node n listens on SLURMD_PORT0 + n (several nodes; a single node keeps 6818)

log() { echo "start-local-slurm: $*" >&2; }
die() {
    log "error: $*"
    # Leave nothing half-started behind: stop what this run started, by PID.
    [ -f "$STATE/pids" ] && "$(dirname "$0")/stop-local-slurm.sh" >/dev/null 2>&1
    exit 1
}

[ "$(id -u)" = 0 ] || die "must run as root (the daemons and /etc/slurm need it)"
[[ $NODES =~ ^[1-9]$ ]] || die "STBENCH_SLURM_NODES must be 1..9, got '$NODES'"

if command -v sinfo >/dev/null && [ -f "$STATE/pids" ] && timeout 5 sinfo -h -o %T >/dev/null 2>&1; then
    echo "already running"
    exit 0
fi

install_packages() {
    command -v apt-get >/dev/null || die "SLURM is not installed and apt-get is not available"
    # Package scripts must not start services (no systemd here, and we start them ourselves).
    local guard=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        guard=1
    fi
    log "installing slurm-wlm munge slurmdbd mariadb-server"
    export DEBIAN_FRONTEND=noninteractive
    local rc=0
    { apt-get update -q && apt-get -y -q install --no-install-recommends \
        slurm-wlm munge slurmdbd mariadb-server; } >"${TMPDIR:-/tmp}/stbench-slurm-apt.log" 2>&1 || rc=$?
    [ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" = 0 ] || die "apt-get failed (log: ${TMPDIR:-/tmp}/stbench-slurm-apt.log)"
}

for bin in slurmctld slurmd slurmdbd munged mariadbd sbatch sacct; do
    if ! command -v "$bin" >/dev/null; then install_packages; break; fi
done

# Refuse to fight a cluster that is not ours (ports 6817-6819 and the nodes' are fixed).
ports="6817 6818 6819"
if [ "$NODES" -gt 1 ]; then
    for ((n = 1; n <= NODES; n++)); do ports+=" $((SLURMD_PORT0 + n))"; done
fi
for port in $ports; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        die "port $port is in use: another SLURM is running on this machine"
    fi
done

# Leftovers of an earlier start of ours (e.g. a half-finished one) are stopped first, by PID.
if [ -f "$STATE/pids" ]; then
    "$(dirname "$0")/stop-local-slurm.sh" || true
fi

host=$(hostname -s)
read -r cpus boards sockets cores threads mem < <(slurmd -C | head -1 | sed -E \
    's/.*CPUs=([0-9]+).*Boards=([0-9]+).*SocketsPerBoard=([0-9]+).*CoresPerSocket=([0-9]+).*ThreadsPerCore=([0-9]+).*RealMemory=([0-9]+).*/\1 \2 \3 \4 \5 \6/')
[ -n "${mem:-}" ] || die "cannot read the node's resources from 'slurmd -C'"
realmem=$((mem * 95 / 100))  # a little below what slurmd reports, or the node drains

rm -rf "$STATE"
mkdir -p "$STATE"/{ctld,slurmd,log,dev} "$CONF" /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
chmod 755 /run/munge

if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 400 /etc/munge/munge.key

# Node names, their slurm.conf and gres.conf lines (placeholder GPU device files, like /dev/null).
names=() node_lines="" gres_lines=""
for ((n = 1; n <= NODES; n++)); do
    if [ "$NODES" = 1 ]; then
        name=$host where="NodeAddr=127.0.0.1" gres_node=""
    else
        name=stbench-n$n where="NodeHostname=stbench-n$n NodeAddr=127.0.0.1 Port=$((SLURMD_PORT0 + n))"
        gres_node="NodeName=$name "
    fi
    names+=("$name")
    node_lines+="NodeName=$name $where CPUs=$cpus Boards=$boards SocketsPerBoard=$sockets"
    node_lines+=" CoresPerSocket=$cores ThreadsPerCore=$threads RealMemory=$realmem Gres=gpu:$GPUS State=UNKNOWN"$'\n'
    for ((i = 0; i < GPUS; i++)); do
        mknod "$STATE/dev/$name-gpu$i" c 1 3
        gres_lines+="${gres_node}Name=gpu File=$STATE/dev/$name-gpu$i"$'\n'
    done
done
node_list=$(IFS=,; echo "${names[*]}")
# Jobs reach a node by its name (DDP's MASTER_ADDR is the first node of SLURM_JOB_NODELIST), as on
# a real cluster: the extra node names resolve to 127.0.0.1 through one tagged line in /etc/hosts
# (rewritten in place: it may be a bind mount), removed again by stop-local-slurm.sh.
HOSTS_TAG="# stbench-local-slurm"
if [ "$NODES" -gt 1 ]; then
    hosts_kept=$(grep -v -- "$HOSTS_TAG\$" /etc/hosts || true)
    printf '%s\n127.0.0.1 %s %s\n' "$hosts_kept" "${names[*]}" "$HOSTS_TAG" >/etc/hosts ||
        die "cannot add the node names to /etc/hosts"
fi

cat >"$CONF/slurm.conf" <<EOF
# Written by stbench slurm/start-local-slurm.sh: $NODES-node test cluster on this machine.
ClusterName=stbench
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd/%n
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd-%n.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStorageTRES=gres/gpu
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MailProg=/bin/true
JobRequeue=1
KillWait=5
MinJobAge=3600
ReturnToService=2
GresTypes=gpu
${node_lines}PartitionName=debug Nodes=$node_list Default=YES MaxTime=INFINITE State=UP
EOF
printf '%s' "$gres_lines" >"$CONF/gres.conf"

cat >"$CONF/slurmdbd.conf" <<EOF
AuthType=auth/munge
DbdHost=$host
DbdAddr=127.0.0.1
SlurmUser=root
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=stbench
StorageLoc=slurm_acct_db
EOF
chmod 600 "$CONF/slurmdbd.conf"

: >"$STATE/pids"
spawn() {  # NAME LOG CMD...: detached from this shell's process group; PID recorded
    local name=$1 logf=$2
    shift 2
    setsid "$@" >>"$logf" 2>&1 </dev/null &
    echo "$name $!" >>"$STATE/pids"
}
wait_for() {  # SECONDS WHAT CMD...
    local limit=$1 what=$2
    shift 2
    for ((i = 0; i < limit * 5; i++)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    die "$what did not come up in ${limit}s (logs in $STATE/log)"
}

spawn munged "$STATE/log/munged.out" setpriv --reuid=munge --regid=munge --init-groups \
    munged --foreground
wait_for 10 munged munge -n

# MariaDB on the default unix socket only (slurmdbd's StorageHost=localhost connects through it).
# Its temporary files go to a folder of its own: the caller's TMPDIR (a test run's, say) may not be
# writable by the mysql user.
mkdir -p /run/mysqld "$STATE/mysql" "$STATE/mysql-tmp"
chown mysql:mysql /run/mysqld "$STATE/mysql" "$STATE/mysql-tmp"
mariadb-install-db --user=mysql --datadir="$STATE/mysql" --tmpdir="$STATE/mysql-tmp" \
    --auth-root-authentication-method=socket --skip-test-db >"$STATE/log/mariadb-install.log" 2>&1 ||
    die "mariadb-install-db failed (log: $STATE/log/mariadb-install.log)"
spawn mariadbd "$STATE/log/mariadbd.out" mariadbd --user=mysql --datadir="$STATE/mysql" --tmpdir="$STATE/mysql-tmp" \
    --skip-networking --innodb-lock-wait-timeout=900 --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/stbench-mariadbd.pid
wait_for 30 mariadbd mariadb -uroot -e "SELECT 1"
mariadb -uroot -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'stbench';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

spawn slurmdbd "$STATE/log/slurmdbd.out" slurmdbd -D
wait_for 30 slurmdbd sacctmgr -n list cluster
sacctmgr -i add cluster stbench >/dev/null 2>&1 || true

spawn slurmctld "$STATE/log/slurmctld.out" slurmctld -D -i
wait_for 30 slurmctld scontrol ping
for name in "${names[@]}"; do
    mkdir -p "$STATE/slurmd/$name"
    spawn slurmd "$STATE/log/slurmd-$name.out" slurmd -D -N "$name"
done
nodes_idle() { [ "$(sinfo -h -N -t idle -o %N 2>/dev/null | sort -u | wc -l)" = "$NODES" ]; }
wait_for 30 "slurmd ($NODES node(s) idle)" nodes_idle
# The first sacct after a fresh start can lag; submitit polls it, so wait until it answers.
wait_for 15 sacct sacct -n -X -a
log "SLURM is up: node(s) $node_list on $host ($cpus CPUs, ${realmem} MB, gpu:$GPUS each); PIDs in $STATE/pids"
