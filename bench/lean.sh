#!/usr/bin/env bash
# bench/lean.sh: how little barehttpd costs, beside nginx and lighttpd (1 worker each):
#   - system calls per request (strace -c -f on the server around exactly N requests),
#   - heap allocations per request in steady state (barehttpd built with --features
#     count-alloc; two counter snapshots around exactly N requests, so start-up and warm-up
#     are left out),
#     and per HTTPS request (keep-alive and a full handshake each),
#   - memory: RSS/PSS idle, after load, with 500 idle keep-alive connections (all three; the
#     refserver nginx allows 1024 connections) and with 10,000 (barehttpd); the same over
#     HTTPS (same certificate for all three; SCHEMES=http leaves the HTTPS parts out),
#   - wake-ups per second while idle (context switches of every thread),
#   - stripped binary size (barehttpd's static build with and without TLS) and the time from
#     exec to the first answered request.
#
#   bash bench/lean.sh             about 2-3 minutes
#   QUICK=1 bash bench/lean.sh     smoke test, fewer requests and connections
#
# Env: N (keep-alive requests per count, 10000), CONNS (keep-alive connections, 4),
#      N_CLOSE (one-connection-per-request requests, 2000; over HTTPS N_CLOSE_TLS, 500),
#      IDLE (10000), STARTS (5),
#      IDLE_S (seconds of idle watched for wake-ups, 5),
#      SCHEMES ("http https"; "http" leaves the HTTPS rows out), SERVERS, PORT (first port
#      tried, 29080), REV (build that commit), WORK, KEEP_WORK=1.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${QUICK:-}" ]; then
  N=${N:-2000}; N_CLOSE=${N_CLOSE:-300}; N_BIG=${N_BIG:-10}; IDLE=${IDLE:-1000}; STARTS=${STARTS:-3}
  IDLE_S=${IDLE_S:-1}; N_CLOSE_TLS=${N_CLOSE_TLS:-100}
else
  N=${N:-10000}; N_CLOSE=${N_CLOSE:-2000}; N_BIG=${N_BIG:-50}; IDLE=${IDLE:-10000}; STARTS=${STARTS:-5}
  IDLE_S=${IDLE_S:-5}; N_CLOSE_TLS=${N_CLOSE_TLS:-500}
fi
CONNS=${CONNS:-4}
# Idle connections for the three-way comparison: the refserver nginx allows 1024 in all.
FEW=${FEW:-500}
SERVERS=(${SERVERS:-barehttpd nginx lighttpd})
CLIENT=$HERE/lib/client.py

# The HTTPS rows unless SCHEMES leaves https out (the plain HTTP rows are always made).
WITH_TLS=""
[[ " ${SCHEMES:-http https} " == *" https "* ]] && WITH_TLS=1
tools=(wrk nginx lighttpd strace curl python3 strip)
[ -n "$WITH_TLS" ] && tools+=(mod_openssl openssl)
need_tools "${tools[@]}"
# Thousands of idle connections: the client and the servers inherit the hard limit.
ulimit -n "$(ulimit -Hn)"
choose_build
BIN=$(build_release)
ABIN=$(build_release count-alloc)
# The same build without TLS (plain HTTP), for its size.
NBIN=$(build_release no-tls)
# The host's default build too, for its size and idle memory beside the measured one.
HBIN=""
if [ -n "$TARGET_TRIPLE" ]; then
  HBIN=$(BUILD=host BUILD_DESC="" BUILD_SUFFIX=-host build_release)
fi
make_docroot
make_text_file
head -c 8000 "$DOCROOT/app.js" > "$DOCROOT/small.css"
[ -n "$WITH_TLS" ] && make_certs
next_port=${PORT:-29080}
port() { local p; p=$(free_port "$next_port"); next_port=$((p + 1)); echo "$p"; }
declare -A PORTS MAIN

# with_client ARGS...: start client.py in the background as a coprocess (CL), read its
# first line into REPLY. Then `client_next` sends a line and reads the next reply.
with_client() {
  coproc CL { exec python3 "$CLIENT" "$@"; }
  CLPID=$CL_PID  # bash unsets CL_PID as soon as the coprocess ends
  STARTED+=("pid $CLPID")
  read -r REPLY <&"${CL[0]}" || die "client.py $* failed"
}
client_next() {
  echo go >&"${CL[1]}"
  read -r REPLY <&"${CL[0]}" || REPLY=""
}
client_end() {
  local pid=$CLPID
  echo bye >&"${CL[1]}" 2>/dev/null || true
  wait "$pid" || die "client.py reported a problem (see above)"
  forget "$pid"
}

echo "$(describe_build); $(nginx -v 2>&1 | sed 's/.*: //'); $(lighttpd -v 2>&1 | head -1 | cut -d' ' -f1); 1 worker each; $(date -u '+%Y-%m-%d %H:%M UTC')"

# ---------------------------------------------------------------- servers, idle memory
for srv in "${SERVERS[@]}"; do
  PORTS[$srv]=$(port)
  start_server "$srv" "${PORTS[$srv]}" 1 "" "$BIN"
  MAIN[$srv]=$PID
done
sleep 0.5
declare -A RSS0 PSS0 WAKE0 WAKES
for srv in "${SERVERS[@]}"; do
  pids=$(server_pids "${MAIN[$srv]}")
  RSS0[$srv]=$(rss_kib $pids); PSS0[$srv]=$(pss_kib $pids)
  WAKE0[$srv]=$(wakeups $pids)
done
# Wake-ups while idle: all three servers side by side, nobody talking to them.
sleep "$IDLE_S"
for srv in "${SERVERS[@]}"; do
  WAKES[$srv]=$(( ($(wakeups $(server_pids "${MAIN[$srv]}")) - ${WAKE0[$srv]}) / IDLE_S ))
done

# ---------------------------------------------------------------- system calls
# count_syscalls TAG SERVER PATH N CONNS [CLIENT OPTIONS]: strace -c -f on every process and
# thread of the server while the client makes exactly N requests; the summary goes to
# strace-TAG.txt. Sets SC to "total<TAB>per request<TAB>calls per request by name".
count_syscalls() {
  local out=$WORK/strace-$1.txt srv=$2 path=$3 n=$4 conns=$5 opts=${6:-} p popts=() st npids=0
  with_client load "${PORTS[$srv]}" "$path" "$conns" "$n" $opts
  for p in $(server_pids "${MAIN[$srv]}"); do popts+=(-p "$p"); npids=$((npids + 1)); done
  strace -f -c -o "$out" "${popts[@]}" 2>"$out.log" &
  st=$!
  STARTED+=("pid $st")
  local i=0
  # Until strace says it attached to each process (the log may not exist yet).
  while [ "$(cat "$out.log" 2>/dev/null | grep -c attached || true)" -lt "$npids" ] &&
    [ $i -lt 100 ]; do
    sleep 0.05; i=$((i + 1))
  done
  sleep 0.3
  client_next  # "done N SECONDS"
  kill -INT "$st"
  wait "$st" || true
  forget "$st"
  client_end
  SC=$(python3 - "$out" "$n" <<'EOF'
import sys
total, rows = 0, []
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 5 or not f[3].isdigit():
        continue
    if f[-1] == "total":
        total = int(f[3])
    else:
        rows.append((int(f[3]), f[-1]))
n = int(sys.argv[2])
rows.sort(reverse=True)
top = ", ".join(f"{name} {calls / n:.2f}" for calls, name in rows if calls / n >= 0.005)
print(f"{total}\t{total / n:.2f}\t{top}")
EOF
)
}

echo
echo "System calls per request: GET /hello.txt, exactly $N requests on $CONNS keep-alive connections"
echo "(one in flight on each), then $N_CLOSE requests with one connection each (Connection: close)."
echo "Counted with strace -c -f attached to every process and thread of the server."
declare -A CLOSE_TOP
printf '%-10s %14s %14s   %s\n' server "keep-alive" "new conn." "per keep-alive request, by call"
for srv in "${SERVERS[@]}"; do
  say "syscalls: $srv"
  count_syscalls "$srv" "$srv" /hello.txt "$N" "$CONNS"
  IFS=$'\t' read -r _ ka top <<<"$SC"
  count_syscalls "$srv-close" "$srv" /hello.txt "$N_CLOSE" "$CONNS" --close
  IFS=$'\t' read -r _ cl CLOSE_TOP[$srv] <<<"$SC"
  printf '%-10s %14s %14s   %s\n' "$srv" "$ka" "$cl" "$top"
done
for srv in "${SERVERS[@]}"; do
  echo "  $srv, new connection per request, by call: ${CLOSE_TOP[$srv]}"
done

if [[ " ${SERVERS[*]} " == *" barehttpd "* ]]; then
  say "syscalls: barehttpd, 404 and big.bin"
  count_syscalls barehttpd-404 barehttpd /missing "$N" "$CONNS" "--expect 404"
  IFS=$'\t' read -r _ per top <<<"$SC"
  echo "  barehttpd, GET /missing (404) keep-alive: $per per request: $top"
  count_syscalls barehttpd-big barehttpd /big.bin "$N_BIG" "$CONNS"
  IFS=$'\t' read -r _ per top <<<"$SC"
  echo "  barehttpd, GET /big.bin (8 MiB) keep-alive: $per per request: $top"
fi

# ---------------------------------------------------------------- memory
# idle_conns SERVER COUNT [--tls CAFILE]: RSS and PSS (KiB) with COUNT connections open, then
# with COUNT idle keep-alive connections that each had one answer. Sets IC to
# "rss_open pss_open rss_answered pss_answered".
idle_conns() {
  local srv=$1 count=$2 pids a b
  shift 2
  pids=$(server_pids "${MAIN[$srv]}")
  with_client idle "${PORTS[$srv]}" "$count" "$@"  # "connected"
  sleep 0.5
  a="$(rss_kib $pids) $(pss_kib $pids)"
  client_next                                     # "answered"
  sleep 0.5
  b="$(rss_kib $pids) $(pss_kib $pids)"
  client_end
  IC="$a $b"
}

declare -A RSS1 PSS1 K1
for srv in "${SERVERS[@]}"; do
  say "memory: $srv"
  # After a burst of 256 connections, closed again: what the server keeps.
  wrk -t1 -c256 -d2s "http://127.0.0.1:${PORTS[$srv]}/hello.txt" >/dev/null
  sleep 0.5
  pids=$(server_pids "${MAIN[$srv]}")
  RSS1[$srv]=$(rss_kib $pids); PSS1[$srv]=$(pss_kib $pids)
  idle_conns "$srv" "$FEW"
  K1[$srv]=$IC
done
K10=""
if [[ " ${SERVERS[*]} " == *" barehttpd "* ]]; then
  say "memory: barehttpd with $IDLE idle connections"
  # Its own instance, with timeouts long enough for the connections to stay while counted.
  PORTS[idle]=$(port)
  start_server barehttpd "${PORTS[idle]}" 1 "" "$BIN" --max-connections $((IDLE + 1000)) \
    --header-timeout 600 --keepalive-timeout 600
  MAIN[idle]=$PID
  pids=$(server_pids "$PID")
  K10="$(rss_kib $pids) $(pss_kib $pids)"
  idle_conns idle "$IDLE"
  K10="$K10 $IC"
fi

echo
echo "Memory, KiB (RSS; PSS in brackets, which counts pages shared by a master and its workers once)"
printf '%-10s %16s %16s %20s %20s\n' server "idle at start" "after 256-conn load" "$FEW conns open" "$FEW idle keep-alive"
for srv in "${SERVERS[@]}"; do
  read -r r1 p1 r2 p2 <<<"${K1[$srv]}"
  printf '%-10s %16s %16s %20s %20s\n' "$srv" "${RSS0[$srv]} [${PSS0[$srv]}]" \
    "${RSS1[$srv]} [${PSS1[$srv]}]" "$r1 [$p1]" "$r2 [$p2]"
done
printf 'Wake-ups per second while idle (context switches of every thread, over %s s):' "$IDLE_S"
for srv in "${SERVERS[@]}"; do printf ' %s %s' "$srv" "${WAKES[$srv]}"; done
echo
if [ -n "$K10" ]; then
  read -r r0 p0 r1 p1 r2 p2 <<<"$K10"
  echo "barehttpd with $IDLE connections: $r0 KiB before, $r1 KiB open ($(((r1 - r0) * 1024 / IDLE)) B each)," \
    "$r2 KiB as idle keep-alive after one answer each ($(((r2 - r0) * 1024 / IDLE)) B each)"
fi

# ---------------------------------------------------------------- memory over HTTPS
if [ -n "$WITH_TLS" ]; then
  # A server of each kind with one TLS listener and the certificate loaded (barehttpd also
  # keeps its plain listener, on another port), measured as above; connections are counted
  # open once their handshake is done.
  SCHEME=https
  declare -A TRSS0 TPSS0 TRSS1 TPSS1 TK1
  for srv in "${SERVERS[@]}"; do
    PORTS[tls-$srv]=$(port)
    start_server "$srv" "${PORTS[tls-$srv]}" 1 "" "$BIN"
    MAIN[tls-$srv]=$PID
  done
  sleep 0.5
  for srv in "${SERVERS[@]}"; do
    pids=$(server_pids "${MAIN[tls-$srv]}")
    TRSS0[$srv]=$(rss_kib $pids); TPSS0[$srv]=$(pss_kib $pids)
  done
  for srv in "${SERVERS[@]}"; do
    say "memory over HTTPS: $srv"
    wrk -t1 -c256 -d2s "$(url "${PORTS[tls-$srv]}" /hello.txt)" >/dev/null
    sleep 0.5
    pids=$(server_pids "${MAIN[tls-$srv]}")
    TRSS1[$srv]=$(rss_kib $pids); TPSS1[$srv]=$(pss_kib $pids)
    idle_conns "tls-$srv" "$FEW" --tls "$CERTS/ca.pem"
    TK1[$srv]=$IC
  done
  SCHEME=http
  echo
  echo "Memory over HTTPS, KiB (RSS [PSS]): one TLS listener, the same ECDSA P-256 certificate"
  printf '%-10s %16s %16s %20s %20s\n' server "idle at start" "after 256-conn load" "$FEW conns open" "$FEW idle keep-alive"
  for srv in "${SERVERS[@]}"; do
    read -r r1 p1 r2 p2 <<<"${TK1[$srv]}"
    printf '%-10s %16s %16s %20s %20s\n' "$srv" "${TRSS0[$srv]} [${TPSS0[$srv]}]" \
      "${TRSS1[$srv]} [${TPSS1[$srv]}]" "$r1 [$p1]" "$r2 [$p2]"
  done
fi

# ---------------------------------------------------------------- allocations
if [[ " ${SERVERS[*]} " == *" barehttpd "* ]]; then
  say "allocations: barehttpd --features count-alloc"
  PORTS[alloc]=$(port)
  tls_args=()
  if [ -n "$WITH_TLS" ]; then
    # One instance for both: the HTTPS rows on its TLS listener.
    # (port runs in a subshell, so it has not moved past PORTS[alloc], which is not bound yet)
    PORTS[alloc-tls]=$(free_port $((PORTS[alloc] + 1)))
    tls_args=(--tls-listen "127.0.0.1:${PORTS[alloc-tls]}" --tls-cert "$CERTS/cert.pem"
      --tls-key "$CERTS/key.pem")
  fi
  start_server barehttpd "${PORTS[alloc]}" 1 "" "$ABIN" "${tls_args[@]}"
  MAIN[alloc]=$PID
  AERR=$WORK/barehttpd-${PORTS[alloc]}.err

  # snapshot: SIGUSR1, then the counter line it prints: "allocs reallocs bytes".
  snapshot() {
    local before i=0
    before=$(grep -c '^alloc-count:' "$AERR" || true)
    kill -USR1 "${MAIN[alloc]}"
    while [ "$(grep -c '^alloc-count:' "$AERR" || true)" -le "$before" ] && [ $i -lt 100 ]; do
      sleep 0.02; i=$((i + 1))
    done
    grep '^alloc-count:' "$AERR" | tail -1 |
      sed 's/.*allocs=\([0-9]*\) reallocs=\([0-9]*\) deallocs=[0-9]* bytes=\([0-9]*\)/\1 \2 \3/'
  }
  # allocs_per_request PATH N [--close] [--expect S] [--tls CAFILE]: sets AL to "allocs
  # reallocs bytes" per request. With --tls, over the TLS listener.
  allocs_per_request() {
    local path=$1 n=$2 a b p=${PORTS[alloc]}
    shift 2
    [[ " $* " == *" --tls "* ]] && p=${PORTS[alloc-tls]}
    with_client load "$p" "$path" "$CONNS" "$n" "$@"                # warmed, "ready"
    a=$(snapshot)
    client_next                                                     # "done"
    b=$(snapshot)
    client_end
    AL=$(awk -v n="$n" -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " ");
      printf "%.3f %.3f %.0f", (y[1] - x[1]) / n, (y[2] - x[2]) / n, (y[3] - x[3]) / n }')
  }
  echo
  echo "Heap allocations per request, barehttpd (counting allocator; snapshots around exactly N requests"
  echo "after warm-up, so start-up is excluded)"
  printf '%-50s %8s %9s %10s\n' case allocs reallocs "bytes"
  row() {
    local name=$1
    shift
    allocs_per_request "$@"
    read -r a r by <<<"$AL"
    printf '%-50s %8s %9s %10s\n' "$name" "$a" "$r" "$by"
  }
  row "GET /hello.txt keep-alive ($N)" /hello.txt "$N"
  row "GET /missing (404) keep-alive ($N)" /missing "$N" --expect 404
  row "GET /big.bin 8 MiB keep-alive ($N_BIG)" /big.bin "$N_BIG"
  # Compressed on the fly (feature compress): a copy from the file cache, for a file kept
  # whole (8 KB) and for a larger one (app.js, 87-89 KB).
  row "GET /small.css 8 KB, gzip, keep-alive ($N)" /small.css "$N" --gzip
  row "GET /app.js, gzip, keep-alive ($N)" /app.js "$N" --gzip
  row "GET /hello.txt, new connection each ($N_CLOSE)" /hello.txt "$N_CLOSE" --close
  if [ -n "$WITH_TLS" ]; then
    row "HTTPS GET /hello.txt keep-alive ($N)" /hello.txt "$N" --tls "$CERTS/ca.pem"
    row "HTTPS GET /big.bin 8 MiB keep-alive ($N_BIG)" /big.bin "$N_BIG" --tls "$CERTS/ca.pem"
    row "HTTPS GET /hello.txt, full handshake each ($N_CLOSE_TLS)" /hello.txt "$N_CLOSE_TLS" \
      --close --tls "$CERTS/ca.pem"
  fi
fi

# ---------------------------------------------------------------- size and start-up
echo
echo "Binary size and start-up (time from exec to the first 200 for /hello.txt; median of $STARTS)"
printf '%-10s %14s %18s %12s\n' server "binary bytes" "shared libraries" "start-up ms"
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
for srv in "${SERVERS[@]}"; do
  say "start-up: $srv"
  p=$(port)
  case $srv in
    barehttpd)
      strip -o "$WORK/bin/barehttpd.stripped" "$BIN"
      file=$WORK/bin/barehttpd.stripped
      cmd=("$BIN" "$DOCROOT" --listen "127.0.0.1:$p" --workers 1 --access-log off --quiet)
      ;;
    nginx | lighttpd)
      # The config refserver.sh writes, run in the foreground on a free port.
      run=$WORK/start-$srv-$p
      TLS="" PERF=1 WORKERS=1 sh "$ACC/refserver.sh" start "$srv" "$p" "$DOCROOT" "$run" >/dev/null
      sh "$ACC/refserver.sh" stop "$srv" "$p" - "$run" >/dev/null
      file=$(command -v "$srv")
      if [ "$srv" = nginx ]; then
        cmd=(nginx -c "$run/nginx.conf" -p "$run" -g 'daemon off;')
      else
        cmd=(lighttpd -D -f "$run/lighttpd.conf")
      fi
      ;;
  esac
  ms=$(for _ in $(seq 1 "$STARTS"); do python3 "$CLIENT" startup "$p" "${cmd[@]}"; done | median)
  printf '%-10s %14s %18s %12s\n' "$srv" "$(stat -c %s "$file")" "$(ldd "$file" | grep -c '=>')" "$ms"
done
echo "(barehttpd's unstripped release binary: $(stat -c %s "$BIN") bytes; nginx and lighttpd are Debian's, already stripped)"
strip -o "$WORK/bin/barehttpd-no-tls.stripped" "$NBIN"
echo "barehttpd without TLS (--no-default-features, $BUILD_DESC): $(stat -c %s "$WORK/bin/barehttpd-no-tls.stripped") bytes" \
  "(budget 1 MiB, 1,048,576); with TLS and compression, as above (budget 7 MiB, 7,340,032): .ci/run holds both"
if [ -n "$HBIN" ]; then
  # The same code as a dynamic glibc binary: its file RSS is mostly libc.so pages that the
  # kernel maps in large folios; PSS shares them with every other process using libc.
  p=$(port)
  start_server barehttpd "$p" 1 "" "$HBIN"
  sleep 0.5
  pids=$(server_pids "$PID")
  strip -o "$WORK/bin/barehttpd-host.stripped" "$HBIN"
  echo "barehttpd host build (glibc, dynamic) for comparison: $(stat -c %s "$WORK/bin/barehttpd-host.stripped") bytes," \
    "$(ldd "$HBIN" | grep -c '=>') shared libraries, idle RSS $(rss_kib $pids) KiB [PSS $(pss_kib $pids)]"
fi
