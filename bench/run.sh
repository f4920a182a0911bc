#!/usr/bin/env bash
# bench/run.sh: barehttpd against nginx and lighttpd: same docroot, same loads, same machine,
# same run, runs interleaved (A B C A B C ...) so that a noisy neighbour hurts all three alike.
#
#   bash bench/run.sh                  full table, HTTP and HTTPS, about 10 minutes
#                                      (3 runs x 3 s per cell)
#   SCHEMES=http bash bench/run.sh     the plain HTTP cases alone, about 5 minutes
#   SCHEMES=https bash bench/run.sh    the HTTPS cases alone, about 5 minutes
#   DUR=10 RUNS=5 bash bench/run.sh    longer, steadier runs
#   QUICK=1 bash bench/run.sh          smoke test, about 45 s (fewer cases, 1 run x 1 s)
#   NO_COMPRESS_CASE=1 bash bench/run.sh  without the compressed-text case (plain HTTP, last)
#   COMPRESS_ONLY=1 bash bench/run.sh  that case alone, about 1 minute
#   NO_LISTING_CASE=1 bash bench/run.sh   without the listing case (plain HTTP, last)
#   LISTING_ONLY=1 bash bench/run.sh   that case alone, about 2 minutes
#   NO_H2_CASES=1 bash bench/run.sh    without the HTTP/2 cases (h2load, last)
#   H2_ONLY=1 bash bench/run.sh        those cases alone, about 2 minutes
#
# Env: DUR (seconds per wrk run, 3; QUICK 1), RUNS (runs per cell, 3; QUICK 1),
#      SCHEMES ("http https"), SERVERS ("barehttpd nginx lighttpd"),
#      PORT (first port tried, 28080),
#      WORK (scratch directory, default a new /tmp/barehttpd-bench.*), KEEP_WORK=1.
# Loopback only. Installs nginx-light, lighttpd (with lighttpd-mod-openssl for HTTPS), wrk,
# openssl and gcc when missing. Every process it starts is stopped on exit, however it exits.
# See bench/README.md for how to read the table.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib/common.sh"
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "${QUICK:-}" ]; then DUR=${DUR:-1}; RUNS=${RUNS:-1}; else DUR=${DUR:-3}; RUNS=${RUNS:-3}; fi
SERVERS=(${SERVERS:-barehttpd nginx lighttpd})
SCHEMES=(${SCHEMES:-http https})
NCPU=$(nproc)

# One case per line: scheme | workers | name | path | connections | extra request header |
# handshakes. Handshakes (HTTPS with a new connection per request): "resumed" is wrk as it
# is, which offers the previous connection's TLS session and so resumes it when the server
# allows; "full" makes wrk offer none (lib/no_resume.c), so that every connection pays a full
# handshake, certificate signature included.
if [ -n "${QUICK:-}" ]; then
  CASES="
http|1|hello keep-alive c50|/hello.txt|50||
http|1|hello close c50|/hello.txt|50|Connection: close|
http|1|big.bin 8MiB c4|/big.bin|4||
http|1|404 keep-alive c50|/missing|50||
http|2|hello keep-alive c50|/hello.txt|50||
https|1|https hello keep-alive c50|/hello.txt|50||
https|1|https hello close c50, full handshakes|/hello.txt|50|Connection: close|full"
else
  CASES="
http|1|hello keep-alive c50|/hello.txt|50||
http|1|hello keep-alive c256|/hello.txt|256||
http|1|hello close c50|/hello.txt|50|Connection: close|
http|1|hello close c256|/hello.txt|256|Connection: close|
http|1|big.bin 8MiB c4|/big.bin|4||
http|1|404 keep-alive c50|/missing|50||
http|2|hello keep-alive c50|/hello.txt|50||
http|2|hello keep-alive c256|/hello.txt|256||
http|2|hello close c50|/hello.txt|50|Connection: close|
http|2|big.bin 8MiB c4|/big.bin|4||
https|1|https hello keep-alive c50|/hello.txt|50||
https|1|https hello close c50, full handshakes|/hello.txt|50|Connection: close|full
https|1|https hello close c50, resumed|/hello.txt|50|Connection: close|resumed
https|1|https big.bin 8MiB c4|/big.bin|4||
https|2|https hello keep-alive c50|/hello.txt|50||
https|2|https hello close c50, full handshakes|/hello.txt|50|Connection: close|full
https|2|https hello close c50, resumed|/hello.txt|50|Connection: close|resumed
https|2|https big.bin 8MiB c4|/big.bin|4||"
fi
want=""
for scheme in "${SCHEMES[@]}"; do
  case $scheme in http | https) want+="$scheme|" ;; *) die "SCHEMES: '$scheme' is neither http nor https" ;; esac
done
CASES=$(grep -E "^(${want%|})\|" <<<"$CASES" || true)
# COMPRESS_ONLY=1: the compressed-text case alone (it runs after the others).
[ -z "${COMPRESS_ONLY:-}" ] || CASES=""
# LISTING_ONLY=1: the directory-listing case alone (it runs last).
if [ -n "${LISTING_ONLY:-}" ]; then CASES=""; NO_COMPRESS_CASE=1; fi
[ -z "${COMPRESS_ONLY:-}" ] || NO_LISTING_CASE=1
if [ -n "${H2_ONLY:-}" ]; then CASES=""; NO_COMPRESS_CASE=1; NO_LISTING_CASE=1; fi
[ -z "${COMPRESS_ONLY:-}${LISTING_ONLY:-}" ] || NO_H2_CASES=1

tools=(wrk nginx lighttpd curl taskset python3)
[ -n "${NO_H2_CASES:-}" ] || tools+=(h2load mod_openssl openssl)
[[ " ${SCHEMES[*]} " == *" https "* ]] && tools+=(mod_openssl openssl cc)
need_tools "${tools[@]}"
choose_build
T_START=$(date +%s)
build_release >/dev/null
make_docroot
mkdir -p "$WORK/raw"
RAW=$WORK/raw.tsv
: > "$RAW"
NO_RESUME=""
if [[ " ${SCHEMES[*]} " == *" https "* ]]; then
  make_certs
  # wrk resumes the TLS session of a connection's previous socket (it keeps one SSL object per
  # connection and SSL_clear()s it); this preload makes it start every handshake afresh.
  NO_RESUME=$WORK/no_resume.so
  cc -shared -fPIC -O2 -o "$NO_RESUME" "$HERE/lib/no_resume.c" -ldl ||
    die "could not build $HERE/lib/no_resume.c (the full-handshake cases need it)"
fi

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
  got=$(fetch -s -o /dev/null -w '%{http_code} %{size_download}' "$(url "$1" /hello.txt)")
  [ "$got" = "200 13" ] || die "$2: /hello.txt answered '$got', expected '200 13'"
  got=$(fetch -s -o /dev/null -w '%{http_code} %{size_download}' "$(url "$1" /big.bin)")
  [ "$got" = "200 8388608" ] || die "$2: /big.bin answered '$got'"
  got=$(fetch -s -o /dev/null -w '%{http_code}' "$(url "$1" /missing)")
  [ "$got" = 404 ] || die "$2: /missing answered '$got', expected 404"
}

# compress_config NAME PORT: restart the reference server NAME (started by start_server on
# PORT) with refserver.sh's configuration plus compression, and set PID.
compress_config() {
  local name=$1 port=$2 run=$WORK/ref-$1-$2
  sh "$ACC/refserver.sh" stop "$name" "$port" - "$run" >/dev/null
  case $name in
    nginx)
      sed -i 's|^  sendfile on;|  gzip on; gzip_comp_level 6; gzip_min_length 1024; gzip_vary on;\
  gzip_types text/plain text/css text/javascript application/javascript application/json;\
  sendfile on;|' "$run/nginx.conf"
      grep -q '^  gzip on;' "$run/nginx.conf" || die "could not add gzip to $run/nginx.conf"
      nginx -c "$run/nginx.conf" -p "$run" -g 'daemon on;'
      ;;
    lighttpd)
      mkdir -p "$run/deflate-cache"
      cat >> "$run/lighttpd.conf" <<EOF
server.modules += ( "mod_deflate" )
deflate.mimetypes = ( "text/", "application/javascript", "application/json" )
deflate.allowed-encodings = ( "gzip" )
deflate.cache-dir = "$run/deflate-cache"
EOF
      lighttpd -f "$run/lighttpd.conf"
      ;;
  esac
  local i=0
  while [ ! -s "$run/$name.pid" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
  PID=$(cat "$run/$name.pid")
  wait_http "$port" || die "$name with compression did not answer on port $port (see $run)"
}

# check_compressed PORT NAME: /app.js comes gzip-coded and decodes to the file, or the
# figures mean nothing.
check_compressed() {
  local enc
  enc=$(fetch -s -o /dev/null -H 'Accept-Encoding: gzip' -w '%header{content-encoding}' "$(url "$1" /app.js)")
  [ "$enc" = gzip ] || die "$2: /app.js with Accept-Encoding: gzip came with Content-Encoding '$enc'"
  fetch -s --compressed -H 'Accept-Encoding: gzip' "$(url "$1" /app.js)" | cmp -s - "$DOCROOT/app.js" ||
    die "$2: /app.js, gzip-coded, does not decode to the file"
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

# one_run WORKERS CASE SERVER REP PATH CONNS HEADER HANDSHAKES: one wrk run, one line in $RAW.
# Besides the server's CPU time, wrk's own is kept: over loopback the TCP work of a transfer
# is charged to whichever side transmits, so a server that leaves data in its socket buffer
# for the client's ACK processing to send looks cheaper than it is. Server plus client is the
# whole cost of a request on the machine.
one_run() {
  local w=$1 case=$2 srv=$3 rep=$4 path=$5 conns=$6 hdr=$7 hs=$8
  local port=${PORTS[$srv]} pids=${PIDS[$srv]} extra=() t0 t1 out expect=200 preload=()
  [ -n "$hdr" ] && extra=(-H "$hdr")
  [ "$path" = /missing ] && expect=404
  [ "$hs" = full ] && preload=(env LD_PRELOAD="$NO_RESUME")
  t0=$(cpu_ticks $pids)
  local c0 c1
  times > "$WORK/times"; c0=$(client_us_file)
  out=$("${WRK_PIN[@]}" "${preload[@]}" wrk -t"$WRK_THREADS" -c"$conns" -d"${DUR}s" --latency \
    -s "$HERE/lib/report.lua" "${extra[@]}" "$(url "$port" "$path")")
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
  placement "$w"
  for SCHEME in http https; do
    # Each scheme has its own servers, as a site would run them: the plain HTTP figures are
    # those of servers that hold no certificate.
    cases=$(grep "^$SCHEME|$w|" <<<"$CASES" || true)
    [ -n "$cases" ] || continue
    say "== $w worker(s), $SCHEME: servers on CPUs ${SRV_CPUS:-any}, wrk -t$WRK_THREADS on CPUs ${WRK_PIN[2]:-any}"
    for srv in "${SERVERS[@]}"; do
      port=$(free_port "$next_port"); next_port=$((port + 1))
      start_server "$srv" "$port" "$w" "$SRV_CPUS"
      check_answers "$port" "$srv"
      PORTS[$srv]=$port
      PIDS[$srv]=$(server_pids "$PID")
      # Warm-up: page cache, nginx's open_file_cache, barehttpd's buffer pools.
      "${WRK_PIN[@]}" wrk -t"$WRK_THREADS" -c50 -d1s "$(url "$port" /hello.txt)" >/dev/null
    done
    while IFS='|' read -r _ _ case path conns hdr hs; do
      say "   $case"
      for rep in $(seq 1 "$RUNS"); do
        for srv in "${SERVERS[@]}"; do
          one_run "$w" "$case" "$srv" "$rep" "$path" "$conns" "$hdr" "$hs"
        done
      done
    done <<<"$cases"
    stop_all
  done
done
SCHEME=http

# Compressed text: one JavaScript file (jquery.min.js, 89 KB, where Debian's libjs-jquery is
# installed; else 87 KB of barehttpd's own sources) to clients that send
# `Accept-Encoding: gzip`, each server compressing as an operator would set it up:
#  - barehttpd as it comes: compressed on the fly once per worker, kept in its file cache;
#  - nginx with `gzip on` and the file's type in gzip_types: it compresses every answer
#    (gzip_static would need a .gz made beforehand, which is the other kind of set-up);
#  - lighttpd with mod_deflate and deflate.cache-dir: compressed once, kept on disk and sent
#    from there (its documentation's advice for static files).
# Level 6 for all three: barehttpd's, lighttpd's default (zlib's); nginx's default is 1.
# The configurations are refserver.sh's, with these lines added (compress_config).
if [[ " ${SCHEMES[*]} " == *" http "* && -z "${NO_COMPRESS_CASE:-}" ]]; then
  make_text_file
  placement 1
  say "== 1 worker(s), http, compressed text ($TEXT_WHAT, $(stat -c %s "$DOCROOT/app.js") bytes)"
  for srv in "${SERVERS[@]}"; do
    port=$(free_port "$next_port"); next_port=$((port + 1))
    start_server "$srv" "$port" 1 "$SRV_CPUS"
    [ "$srv" = barehttpd ] || compress_config "$srv" "$port"
    check_compressed "$port" "$srv"
    PORTS[$srv]=$port
    PIDS[$srv]=$(server_pids "$PID")
    "${WRK_PIN[@]}" wrk -t1 -c50 -d1s -H 'Accept-Encoding: gzip' "$(url "$port" /app.js)" >/dev/null
  done
  case="app.js gzip keep-alive c50"
  say "   $case"
  for rep in $(seq 1 "$RUNS"); do
    for srv in "${SERVERS[@]}"; do
      one_run 1 "$case" "$srv" "$rep" /app.js 50 "Accept-Encoding: gzip" ""
    done
  done
  stop_all
fi

# A folder of 10,000 files listed as HTML (issue 20: no more server CPU than nginx's
# autoindex and lighttpd's mod_dirlisting). Two figures, since barehttpd keeps a rendered
# listing until the folder changes (inotify) and the others render every GET:
#  - wrk on the unchanged folder, one keep-alive connection: what a listing that many people
#    open costs (barehttpd: its kept copy; nginx and lighttpd: a render each). One, since
#    lighttpd 1.4.69 answers 503 to a listing asked while it renders another (measured: 3 of
#    4 concurrent GETs), which would make its figures those of errors;
#  - bench/listing.py's renders, each GET after a name was added or removed, so that every
#    server renders every time: what a render itself costs (and, with a count-alloc build,
#    its heap allocations). Its files live in /tmp/barehttpd-listing-bench-10k (made once):
#    nginx's workers run as nobody and could not read them in $WORK (mode 700).
if [[ " ${SCHEMES[*]} " == *" http "* && -z "${NO_LISTING_CASE:-}" ]]; then
  mkdir -p "$DOCROOT/list10k"
  python3 - "$DOCROOT/list10k" <<'PY'
import os, sys
d = sys.argv[1]
for i in range(10000):
    p = os.path.join(d, f"file-{i:05d}.txt")
    if not os.path.exists(p):
        with open(p, "w") as f:
            f.write("x" * (i % 5000))
PY
  placement 1
  say "== 1 worker(s), http, listing of a folder of 10,000 files"
  for srv in "${SERVERS[@]}"; do
    port=$(free_port "$next_port"); next_port=$((port + 1))
    if [ "$srv" = barehttpd ]; then
      start_server "$srv" "$port" 1 "$SRV_CPUS" "" --listing
    else
      start_server "$srv" "$port" 1 "$SRV_CPUS"
    fi
    [ "$(fetch -s -o /dev/null -w '%{http_code}' "$(url "$port" /list10k/)")" = 200 ] ||
      die "$srv: /list10k/ is not listed"
    PORTS[$srv]=$port
    PIDS[$srv]=$(server_pids "$PID")
    "${WRK_PIN[@]}" wrk -t1 -c1 -d1s "$(url "$port" /list10k/)" >/dev/null
  done
  case="listing 10,000 files keep-alive c1"
  say "   $case"
  for rep in $(seq 1 "$RUNS"); do
    for srv in "${SERVERS[@]}"; do
      one_run 1 "$case" "$srv" "$rep" /list10k/ 1 "" ""
    done
  done
  stop_all
  say "   listing renders (bench/listing.py)"
  refs=()
  for srv in "${SERVERS[@]}"; do [ "$srv" = barehttpd ] || refs+=("$srv"); done
  LISTING_RENDERS=$(FILES=10000 RENDERS=${RENDERS:-40} CLIENTS=0 WORKERS=1 \
    WORK=/tmp/barehttpd-listing-bench-10k python3 "$HERE/listing.py" "${refs[@]}" "$WORK/bin/barehttpd" |
    grep -E '^==|after a change' | paste -d' ' - - | sed 's/^== //; s/  GET \/big\/ after a change,/:/')
fi

# HTTP/2 (issue 18): h2load, the load tool of nghttp2, as wrk is for HTTP/1.1, with its
# per-request log turned into wrk's RESULT line (lib/h2result.py) so the rows share the
# table. One worker, h2load -t1 on the other CPU: the 13-byte file over 50 connections of
# 10 concurrent streams each, over TLS (ALPN h2) and in cleartext (h2c, prior knowledge), and
# the 8 MiB file over TLS on 4 connections. nginx needs `http2` on its listener (refserver.sh
# H2=1, which makes its cleartext port h2c only); lighttpd 1.4.69 speaks h2 and h2c as it
# comes; barehttpd by ALPN, and h2c with --h2c. A build without HTTP/2 is left out of these
# rows, with a note.
# one_h2 CASE SERVER REP PATH CONNS STREAMS: one h2load run, one line in $RAW.
one_h2() {
  local case=$1 srv=$2 rep=$3 path=$4 conns=$5 streams=$6
  local pids=${PIDS[$srv]} t0 t1 c0 c1 res raw="$WORK/raw/w1-${1// /_}-$2-$3"
  t0=$(cpu_ticks $pids)
  times > "$WORK/times"; c0=$(client_us_file)
  "${WRK_PIN[@]}" h2load -t1 -c"$conns" -m"$streams" -D "$DUR" --log-file="$raw.log" \
    "$(url "${PORTS[$srv]}" "$path")" > "$raw.txt" 2>&1 || true
  t1=$(cpu_ticks $pids)
  times > "$WORK/times"; c1=$(client_us_file)
  res=$(python3 "$HERE/lib/h2result.py" "$raw.txt" "$raw.log") ||
    die "no result from h2load for $srv $case (see $raw.txt)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' 1 "$case" "$srv" "$rep" 200 \
    $((t1 - t0)) "$(tr ' ' '\t' <<<"${res#RESULT }")" $((c1 - c0)) >> "$RAW"
}
if [ -z "${NO_H2_CASES:-}" ]; then
  [ -n "${CERTS:-}" ] || make_certs
  h2_servers=()
  for srv in "${SERVERS[@]}"; do
    if [ "$srv" = barehttpd ] && ! "$WORK/bin/barehttpd" --help 2>&1 | grep -q -- '--h2c'; then
      H2_NOTE="barehttpd left out of the HTTP/2 rows: this build has no HTTP/2 (no --h2c)"
      say "$H2_NOTE"
      continue
    fi
    h2_servers+=("$srv")
  done
  placement 1
  export H2=1
  for SCHEME in https http; do
    say "== 1 worker(s), HTTP/2 over $([ "$SCHEME" = https ] && echo "TLS (h2)" || echo "cleartext (h2c)")"
    for srv in "${h2_servers[@]}"; do
      port=$(free_port "$next_port"); next_port=$((port + 1))
      if [ "$srv" = barehttpd ] && [ "$SCHEME" = http ]; then
        start_server "$srv" "$port" 1 "$SRV_CPUS" "" --h2c
      else
        start_server "$srv" "$port" 1 "$SRV_CPUS"
      fi
      PORTS[$srv]=$port
      PIDS[$srv]=$(server_pids "$PID")
      want=h2; [ "$SCHEME" = http ] && want=h2c
      got=$(h2load -n1 -c1 "$(url "$port" /hello.txt)" 2>&1 | sed -n 's/^Application protocol: //p')
      [ "$got" = "$want" ] || die "$srv on port $port speaks '${got:-nothing}', not $want"
      "${WRK_PIN[@]}" h2load -t1 -c50 -m10 -D 1 "$(url "$port" /hello.txt)" >/dev/null 2>&1 || true
    done
    if [ "$SCHEME" = https ]; then
      h2cases="h2 hello c50 m10|/hello.txt|50|10
h2 big.bin 8MiB c4|/big.bin|4|1"
    else
      h2cases="h2c hello c50 m10|/hello.txt|50|10"
    fi
    while IFS='|' read -r case path conns streams; do
      say "   $case"
      for rep in $(seq 1 "$RUNS"); do
        for srv in "${h2_servers[@]}"; do
          one_h2 "$case" "$srv" "$rep" "$path" "$conns" "$streams"
        done
      done
    done <<<"$h2cases"
    stop_all
  done
  unset H2
  SCHEME=http
fi

echo
tls=""
[ -n "$NO_RESUME" ] && tls="; HTTPS: $(openssl version | cut -d' ' -f1-2) for nginx, lighttpd and wrk, ECDSA P-256 certificate"
echo "$(describe_build); $(nginx -v 2>&1 | sed 's/.*: //'); $(lighttpd -v 2>&1 | head -1 | cut -d' ' -f1)$tls"
echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $NCPU CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), ${RUNS} run(s) x ${DUR} s per cell, median shown"
python3 "$HERE/lib/table.py" "$RAW"
[ -z "${H2_NOTE:-}" ] || echo "$H2_NOTE"
if [ -n "${LISTING_RENDERS:-}" ]; then
  echo
  echo "Listing renders (10,000 files, each GET after the folder changed; server CPU per render):"
  printf '  %s\n' "$LISTING_RENDERS"
fi
echo "raw wrk output: $WORK/raw   ($(($(date +%s) - T_START)) s)"
