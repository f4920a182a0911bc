#!/usr/bin/env bash
# bench/run.sh: barehttpd against nginx and lighttpd: same docroot, same loads, same machine,
# same run, runs interleaved (A B C A B C ...) so that a noisy neighbour hurts all three alike.
#
#   bash bench/run.sh                  full table, about 5 minutes (3 runs x 3 s per cell)
#   DUR=10 RUNS=5 bash bench/run.sh    longer, steadier runs
#   QUICK=1 bash bench/run.sh          smoke test, about 30 s (fewer cases, 1 run x 1 s)
#
# Env: DUR (seconds per wrk run, 3; QUICK 1), RUNS (runs per cell, 3; QUICK 1),
#      SERVERS ("barehttpd nginx lighttpd"), PORT (first port tried, 28080),
#      WORK (scratch directory, default a new /tmp/barehttpd-bench.*), KEEP_WORK=1.
# Loopback only. Installs nginx-light, lighttpd and wrk when missing. Every process it starts
# is stopped on exit, however it exits. See bench/README.md for how to read the table.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${QUICK:-}" ]; then DUR=${DUR:-1}; RUNS=${RUNS:-1}; else DUR=${DUR:-3}; RUNS=${RUNS:-3}; fi
SERVERS=(${SERVERS:-barehttpd nginx lighttpd})
NCPU=$(nproc)

# One case per line: workers | name | path | connections | extra request header
if [ -n "${QUICK:-}" ]; then
  CASES="
1|hello keep-alive c50|/hello.txt|50|
1|hello close c50|/hello.txt|50|Connection: close
1|big.bin 8MiB c4|/big.bin|4|
1|404 keep-alive c50|/missing|50|
2|hello keep-alive c50|/hello.txt|50|"
else
  CASES="
1|hello keep-alive c50|/hello.txt|50|
1|hello keep-alive c256|/hello.txt|256|
1|hello close c50|/hello.txt|50|Connection: close
1|hello close c256|/hello.txt|256|Connection: close
1|big.bin 8MiB c4|/big.bin|4|
1|404 keep-alive c50|/missing|50|
2|hello keep-alive c50|/hello.txt|50|
2|hello keep-alive c256|/hello.txt|256|
2|hello close c50|/hello.txt|50|Connection: close
2|big.bin 8MiB c4|/big.bin|4|"
fi

need_tools wrk nginx lighttpd curl taskset python3
choose_build
T_START=$(date +%s)
build_release >/dev/null
make_docroot
mkdir -p "$WORK/raw"
RAW=$WORK/raw.tsv
: > "$RAW"

# Where the server and wrk run. With room for both (2 x workers CPUs), each gets its own
# CPUs, so wrk never steals the server's; otherwise both float over all CPUs.
placement() {
  local w=$1
  WRK_THREADS=$w
  if [ "$NCPU" -ge $((2 * w)) ]; then
    SRV_CPUS=$(seq -s, 0 $((w - 1)))
    WRK_PIN=(taskset -c "$(seq -s, "$w" $((2 * w - 1)))")
  else
    SRV_CPUS=""
    WRK_PIN=()
  fi
}

# check_answers PORT NAME: the three URLs answer as expected, or the figures mean nothing.
check_answers() {
  local got
  got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$1/hello.txt")
  [ "$got" = "200 13" ] || die "$2: /hello.txt answered '$got', expected '200 13'"
  got=$(curl -s -o /dev/null -w '%{http_code} %{size_download}' "http://127.0.0.1:$1/big.bin")
  [ "$got" = "200 8388608" ] || die "$2: /big.bin answered '$got'"
  got=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/missing")
  [ "$got" = 404 ] || die "$2: /missing answered '$got', expected 404"
}

# client_us_file: the CPU time (user+system, µs) of this shell's finished children, from
# what the builtin `times` wrote to $WORK/times (it must run in this shell, not a subshell,
# to see them).
client_us_file() {
  awk 'NR == 2 {
    n = 0
    for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); n += t[1] * 60 + t[2] }
    printf "%d\n", n * 1e6
  }' "$WORK/times"
}

# one_run WORKERS CASE SERVER REP PATH CONNS HEADER: one wrk run, one line in $RAW. Besides
# the server's CPU time, wrk's own is kept: over loopback the TCP work of a transfer is
# charged to whichever side transmits, so a server that leaves data in its socket buffer for
# the client's ACK processing to send looks cheaper than it is. Server plus client is the
# whole cost of a request on the machine.
one_run() {
  local w=$1 case=$2 srv=$3 rep=$4 path=$5 conns=$6 hdr=$7
  local port=${PORTS[$srv]} pids=${PIDS[$srv]} extra=() t0 t1 out expect=200
  [ -n "$hdr" ] && extra=(-H "$hdr")
  [ "$path" = /missing ] && expect=404
  t0=$(cpu_ticks $pids)
  local c0 c1
  times > "$WORK/times"; c0=$(client_us_file)
  out=$("${WRK_PIN[@]}" wrk -t"$WRK_THREADS" -c"$conns" -d"${DUR}s" --latency \
    -s "$HERE/lib/report.lua" "${extra[@]}" "http://127.0.0.1:$port$path")
  t1=$(cpu_ticks $pids)
  times > "$WORK/times"; c1=$(client_us_file)
  printf '%s\n' "$out" > "$WORK/raw/w$w-${case// /_}-$srv-$rep.txt"
  local res
  res=$(grep '^RESULT ' <<<"$out") || die "no result from wrk for $srv $case (see $WORK/raw)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$w" "$case" "$srv" "$rep" "$expect" \
    $((t1 - t0)) "$(tr ' ' '\t' <<<"${res#RESULT }")" $((c1 - c0)) >> "$RAW"
}

declare -A PORTS PIDS
next_port=${PORT:-28080}
for w in 1 2; do
  cases=$(grep "^$w|" <<<"$CASES" || true)
  [ -n "$cases" ] || continue
  placement "$w"
  say "== $w worker(s): servers on CPUs ${SRV_CPUS:-any}, wrk -t$WRK_THREADS on CPUs ${WRK_PIN[2]:-any}"
  for srv in "${SERVERS[@]}"; do
    port=$(free_port "$next_port"); next_port=$((port + 1))
    start_server "$srv" "$port" "$w" "$SRV_CPUS"
    check_answers "$port" "$srv"
    PORTS[$srv]=$port
    PIDS[$srv]=$(server_pids "$PID")
    # Warm-up: page cache, nginx's open_file_cache, barehttpd's buffer pools.
    "${WRK_PIN[@]}" wrk -t"$WRK_THREADS" -c50 -d1s "http://127.0.0.1:$port/hello.txt" >/dev/null
  done
  while IFS='|' read -r _ case path conns hdr; do
    say "   $case"
    for rep in $(seq 1 "$RUNS"); do
      for srv in "${SERVERS[@]}"; do
        one_run "$w" "$case" "$srv" "$rep" "$path" "$conns" "$hdr"
      done
    done
  done <<<"$cases"
  stop_all
done

echo
echo "$(describe_build); $(nginx -v 2>&1 | sed 's/.*: //'); $(lighttpd -v 2>&1 | head -1 | cut -d' ' -f1)"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $NCPU CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), ${RUNS} run(s) x ${DUR} s per cell, median shown"
python3 "$HERE/lib/table.py" "$RAW"
echo "raw wrk output: $WORK/raw   ($(($(date +%s) - T_START)) s)"
