#!/usr/bin/env bash
# Stop the daemons that start-local-slurm.sh started, by the PIDs it recorded, and nothing else.
#
# Jobs still in the queue are cancelled first, so no job step outlives its slurmd.
set -uo pipefail

STATE=${STBENCH_SLURM_STATE:-/var/lib/stbench-slurm}
PIDS="$STATE/pids"

if [ ! -f "$PIDS" ]; then
    echo "stop-local-slurm: nothing to stop (no $PIDS)" >&2
    exit 0
fi

alive() {  # PID NAME: true while PID runs the program we started (guards against PID reuse)
    [ -r "/proc/$1/comm" ] || return 1
    local comm
    comm=$(cat "/proc/$1/comm" 2>/dev/null) || return 1
    case "$2" in
        munged) [[ $comm == munged || $comm == setpriv ]] ;;
        *) [[ $comm == "$2"* ]] ;;
    esac
}

if command -v scancel >/dev/null && timeout 5 scontrol ping >/dev/null 2>&1; then
    scancel --full --quiet $(squeue -h -o %A 2>/dev/null) 2>/dev/null || true
    for _ in $(seq 1 30); do
        [ -z "$(squeue -h -t running,completing -o %A 2>/dev/null)" ] && break
        sleep 0.5
    done
fi

# All at once, in reverse start order (the slurmds, slurmctld, slurmdbd, mariadbd, munged), then
# wait for them together: each takes a second or two to shut down, and the next start resets the
# accounting database and the controller state anyway.
mapfile -t daemons < <(tac "$PIDS")
for entry in "${daemons[@]}"; do
    read -r name pid <<<"$entry"
    alive "$pid" "$name" && kill -TERM "$pid" 2>/dev/null
done
for _ in $(seq 1 50); do
    running=0
    for entry in "${daemons[@]}"; do
        read -r name pid <<<"$entry"
        alive "$pid" "$name" && running=1
    done
    [ "$running" = 0 ] && break
    sleep 0.2
done
for entry in "${daemons[@]}"; do
    read -r name pid <<<"$entry"
    if alive "$pid" "$name"; then
        echo "stop-local-slurm: $name ($pid) ignored SIGTERM; killing it" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
done
rm -f "$PIDS"
# The node names start-local-slurm.sh added (one tagged line), rewritten in place.
HOSTS_TAG="# stbench-local-slurm"
if grep -q -- "$HOSTS_TAG\$" /etc/hosts 2>/dev/null; then
    hosts_kept=$(grep -v -- "$HOSTS_TAG\$" /etc/hosts)
    printf '%s\n' "$hosts_kept" >/etc/hosts
fi
echo "stop-local-slurm: stopped" >&2
