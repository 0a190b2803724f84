#!/usr/bin/env bash
# The CPU time a PostgreSQL cluster spends while a command runs: the postmaster, its living
# children (backends, WAL writer, checkpointer...) and the children it reaped meanwhile (the
# backends of connections that closed), from /proc/PID/stat. For benchmarks: PostgreSQL's
# CPU per message is the figure that survives a shared machine.
#
#   scripts/pg-cluster-cpu.sh DIR -- COMMAND [ARGS...]
#
# DIR is the directory given to scripts/pg-test-cluster.sh. Prints the command's output, then
# "pg_cpu_s S  wall_s W  load L" (L: the 1-minute load average at the end).
set -euo pipefail
[[ $# -ge 3 && $2 == "--" ]] || { echo "usage: $0 DIR -- COMMAND [ARGS...]" >&2; exit 2; }
dir=$1
shift 2
pm=$(head -1 "$dir/data/postmaster.pid")
tck=$(getconf CLK_TCK)

# utime + stime + cutime + cstime of the postmaster, + utime + stime of each living child,
# in clock ticks. Fields after "(comm) " start at field 3 (state): utime is field 14.
ticks() {
  local total f c
  read -r -a f < <(sed 's/^.*) //' "/proc/$pm/stat")
  total=$((f[11] + f[12] + f[13] + f[14]))
  for c in $(pgrep -P "$pm"); do
    read -r -a f < <(sed 's/^.*) //' "/proc/$c/stat" 2>/dev/null) || continue
    total=$((total + f[11] + f[12]))
  done
  echo "$total"
}

before=$(ticks)
t0=$(date +%s.%N)
rc=0
"$@" || rc=$?
sleep 0.5 # the postmaster reaps the backends of the connections the command closed
after=$(ticks)
t1=$(date +%s.%N)
printf 'pg_cpu_s %.2f  wall_s %.2f  load %s\n' "$(echo "($after - $before) / $tck" | bc -l)" \
  "$(echo "$t1 - $t0" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
exit "$rc"
