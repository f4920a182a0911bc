#!/bin/sh
# bench/h2load.sh URL PID [PID...]: HTTP/2 load on URL with h2load (Debian nghttp2-client;
# 1 thread, $CONNS connections, $STREAMS streams each, $DUR seconds) and the server's CPU
# time per request, from the user+system ticks of the given PIDs and their threads in /proc,
# as bench/run.sh and the acceptance kit's cpu_per_request.sh measure it for wrk. An
# http:// URL is h2c with prior knowledge; https:// negotiates h2 by ALPN.
#   bash bench/h2load.sh http://127.0.0.1:8080/hello.txt $(pgrep -f 'barehttpd.*8080')
# Env: CONNS (50), STREAMS (10), DUR (5), CPU (the CPU h2load is pinned to, none by default).
# Loopback only.
set -eu
URL=${1:?usage: h2load.sh URL PID [PID...]}; shift; PIDS="$*"
case $URL in http://127.*|http://localhost*|https://127.*|https://localhost*) ;; *) echo "loopback only" >&2; exit 2;; esac
ticks() { t=0; for p in "$@"; do for s in /proc/$p/task/*/stat; do
  t=$((t + $(awk '{print $14 + $15}' "$s"))); done; done; echo $t; }
HZ=$(getconf CLK_TCK)
pin=""
[ -n "${CPU:-}" ] && pin="taskset -c $CPU"
# Warm-up (connections, caches), not counted.
$pin h2load -t1 -c"${CONNS:-50}" -m"${STREAMS:-10}" -D1 "$URL" >/dev/null 2>&1 || true
t0=$(ticks $PIDS)
out=$($pin h2load -t1 -c"${CONNS:-50}" -m"${STREAMS:-10}" -D"${DUR:-5}" "$URL" 2>&1)
t1=$(ticks $PIDS)
done_=$(echo "$out" | awk '/^requests:/{print $6}')
ok=$(echo "$out" | awk '/^status codes:/{print $3}')
rps=$(echo "$out" | awk '/^finished in/{print $4}')
proto=$(echo "$out" | awk '/^Application protocol:/{print $3}')
us=$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v r="$done_" 'BEGIN{ if (r > 0) printf "%.2f", t * 1e6 / hz / r; else print "n/a" }')
echo "proto=$proto req/s=$rps done=$done_ 2xx=$ok cpu_us_per_req=$us"
