# bench/lib/common.sh: what run.sh and lean.sh share. Sourced, never run.
#
# Owns: installing the tools, building barehttpd, the docroot, starting and stopping the three
# servers on loopback, and the /proc readings (CPU ticks, RSS). Every process started here is
# recorded and stopped by `cleanup`, which the caller installs as its EXIT trap.
# The caller sets HERE (the bench/ directory) before sourcing.

ROOT=$(cd "$HERE/.." && pwd)
# The outside checks live beside the repository: ../shared/acceptance from the repo root.
ACC=${ACC:-$HERE/../../shared/acceptance}
HZ=$(getconf CLK_TCK)
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

# Scratch space for this run: binaries, docroot, server run dirs, raw results.
WORK=${WORK:-$(mktemp -d /tmp/barehttpd-bench.XXXXXX)}
mkdir -p "$WORK"

say() { printf '%s\n' "$*" >&2; }
die() { say "bench: $*"; exit 1; }

# need_tools CMD... : install the Debian package of each missing command. `mod_openssl` is
# lighttpd's TLS module (a file, not a command).
need_tools() {
  local missing=() c
  for c in "$@"; do
    if [ "$c" = mod_openssl ]; then
      [ -e /usr/lib/lighttpd/mod_openssl.so ] || missing+=(lighttpd-mod-openssl)
      continue
    fi
    command -v "$c" >/dev/null 2>&1 && continue
    case $c in
      nginx) missing+=(nginx-light) ;;
      taskset) missing+=(util-linux) ;;
      curl | wrk | lighttpd | strace | python3 | openssl) missing+=("$c") ;;
      h2load) missing+=(nghttp2-client) ;;
      strip) missing+=(binutils) ;;
      cc) missing+=(gcc) ;;
      *) die "do not know how to install $c" ;;
    esac
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing ${missing[*]} ..."
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  # Debian starts a daemon it has just installed; it would sit on port 80 and take CPU.
  # Stop the services installed here (never one that was running before), through the service.
  local pkg svc
  for pkg in "${missing[@]}"; do
    case $pkg in nginx-light) svc=nginx ;; lighttpd) svc=lighttpd ;; *) continue ;; esac
    if command -v systemctl >/dev/null 2>&1; then
      $SUDO systemctl stop "$svc" 2>/dev/null || true
    else
      $SUDO service "$svc" stop >/dev/null 2>&1 || true
    fi
  done
}

# The build that is measured. BUILD=static (the default): the static musl build that the
# README recommends for servers (one file, no shared libraries, its own small libc); BUILD=host:
# the host's default build (glibc, dynamic), which `cargo build --release` gives. Sets
# TARGET_TRIPLE (empty for the host build) and BUILD_DESC; when the musl target's standard
# library cannot be installed, says so and measures the host build.
choose_build() {
  [ -n "${BUILD_DESC:-}" ] && return 0
  TARGET_TRIPLE=""
  BUILD_DESC="host build (glibc, dynamic)"
  [ "${BUILD:-static}" = host ] && return 0
  local triple why
  triple="$(uname -m)-unknown-linux-musl"
  if ! rustup target list --installed 2>/dev/null | grep -qx "$triple" &&
    ! why=$(rustup target add "$triple" 2>&1); then
    say "bench: cannot add $triple ($(printf '%s\n' "$why" | tail -n 1)); measuring the host build"
    return 0
  fi
  TARGET_TRIPLE=$triple
  BUILD_DESC="static build ($triple)"
}

# build_release [FEATURES]: build barehttpd in release mode and copy the binary to
# $WORK/bin/barehttpd[-FEATURES], so that a concurrent `cargo build` by someone else cannot swap
# it mid-run. A feature build goes to its own target dir, never over target/release.
# FEATURES `no-tls` is the build without the default features (plain HTTP, no rustls).
# With REV set (a commit, e.g. REV=HEAD), that commit is built from `git archive` instead of
# the working tree: for comparing commits, or when the working tree is mid-edit.
build_release() {
  choose_build
  local feat=${1:-} src=$ROOT out=$WORK/bin/barehttpd${1:+-$1}${BUILD_SUFFIX:-} kind=""
  mkdir -p "$WORK/bin"
  if [ -n "${REV:-}" ]; then
    src=$WORK/src-$(git -C "$ROOT" rev-parse --short "$REV") || die "REV=$REV: no such commit"
    if [ ! -d "$src" ]; then
      mkdir -p "$src"
      git -C "$ROOT" archive "$REV" | tar -x -C "$src"
    fi
    kind=rev
  fi
  [ -z "$feat" ] || kind=${kind:+$kind-}$feat
  [ -z "${BUILD_SUFFIX:-}" ] || kind=${kind:+$kind-}${BUILD_SUFFIX#-}
  local tdir=$ROOT/target${kind:+/bench-$kind}
  say "building barehttpd (release${feat:+, $feat}${REV:+, $REV}, $BUILD_DESC) ..."
  local fargs=()
  case $feat in
    "") ;;
    no-tls) fargs=(--no-default-features) ;;
    *) fargs=(--features "$feat") ;;
  esac
  (cd "$src" && cargo build --release --quiet "${fargs[@]}" \
    ${TARGET_TRIPLE:+--target "$TARGET_TRIPLE"} --target-dir "$tdir") ||
    die "cargo build failed in $src (is the tree mid-edit? try REV=HEAD)"
  cp "$tdir/${TARGET_TRIPLE:+$TARGET_TRIPLE/}release/barehttpd" "$out"
  printf '%s\n' "$out"
}

# describe_build: which barehttpd was measured, for the table's heading.
describe_build() {
  choose_build
  if [ -n "${REV:-}" ]; then
    echo "barehttpd $(git -C "$ROOT" rev-parse --short "$REV"), $BUILD_DESC"
  else
    local dirty=""
    git -C "$ROOT" diff --quiet HEAD -- src Cargo.toml Cargo.lock 2>/dev/null || dirty=" + uncommitted changes"
    echo "barehttpd $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) (working tree$dirty), $BUILD_DESC"
  fi
}

make_docroot() {
  [ -f "$ACC/make-docroot.sh" ] || die "no $ACC/make-docroot.sh (the shared acceptance kit)"
  sh "$ACC/make-docroot.sh" "$WORK/docroot" >/dev/null
  DOCROOT=$WORK/docroot
}

# make_text_file: $DOCROOT/app.js, the compressed-text case's file, and TEXT_WHAT, what it is.
make_text_file() {
  local jq=/usr/share/javascript/jquery/jquery.min.js
  if [ -f "$jq" ]; then
    cp "$jq" "$DOCROOT/app.js"
    TEXT_WHAT=jquery.min.js
  else
    # (cat is cut short by head: its SIGPIPE is expected)
    cat "$ROOT"/src/*.rs "$ROOT"/src/*/*.rs | head -c 87000 > "$DOCROOT/app.js" || true
    TEXT_WHAT="barehttpd's sources"
  fi
}

# free_port N: the first port from N up that nothing listens on.
free_port() {
  local p=$1
  while [ -n "$(ss -Htln "sport = :$p" 2>/dev/null)" ]; do p=$((p + 1)); done
  printf '%s\n' "$p"
}

# HTTPS: SCHEME=https makes start_server serve TLS on its port (barehttpd --tls-listen,
# nginx and lighttpd through refserver.sh's TLS=1), all with the same certificate, and the
# curl checks trust its CA. `make_certs` makes that certificate once per run.
SCHEME=http
make_certs() {
  CERTS=$WORK/certs
  [ -f "$CERTS/cert.pem" ] || sh "$ACC/make-cert.sh" "$CERTS" >/dev/null ||
    die "make-cert.sh could not make certificates in $CERTS"
}
# url PORT PATH: the URL of PATH on the server at PORT, in the current SCHEME.
url() { printf '%s://127.0.0.1:%s%s\n' "$SCHEME" "$1" "$2"; }
# fetch ARGS... : curl, trusting the test CA when the scheme is https.
fetch() {
  if [ "$SCHEME" = https ]; then curl --cacert "$CERTS/ca.pem" "$@"; else curl "$@"; fi
}

# wait_http PORT: until /hello.txt answers (5 s at most).
# With H2 set and plain HTTP, by HTTP/2 with prior knowledge: nginx's `http2` cleartext
# listener (refserver.sh H2=1) speaks nothing else.
wait_http() {
  local i=0 h2=()
  [ -n "${H2:-}" ] && [ "$SCHEME" = http ] && h2=(--http2-prior-knowledge)
  while ! fetch -sf -o /dev/null --max-time 1 "${h2[@]}" "$(url "$1" /hello.txt)"; do
    i=$((i + 1)); [ $i -lt 100 ] || return 1; sleep 0.05
  done
}

# Processes started here, as "bare PID" or "ref NAME PORT RUNDIR"; cleanup stops each.
STARTED=()

# start_server NAME PORT WORKERS CPUS [BIN [EXTRA ARGS...]]: start one server and set PID
# (its main process). CPUS ("" for none) pins the server and its children with taskset.
# BIN and EXTRA ARGS are for barehttpd only. With SCHEME=https the server speaks TLS on PORT.
start_server() {
  local name=$1 port=$2 workers=$3 cpus=${4:-} pin=() tls=""
  [ -n "$cpus" ] && pin=(taskset -c "$cpus")
  [ "$SCHEME" = https ] && tls=1
  case $name in
    barehttpd)
      local bin=${5:-$WORK/bin/barehttpd} listen=(--listen "127.0.0.1:$port")
      shift $(($# < 5 ? $# : 5))
      if [ -n "$tls" ]; then
        # TLS on PORT. The plain listener goes to a free port that nobody asks, so that the
        # default one (127.0.0.1:8080) is never tried.
        listen=(--listen "127.0.0.1:$(free_port $((port + 500)))" --tls-listen "127.0.0.1:$port"
          --tls-cert "$CERTS/cert.pem" --tls-key "$CERTS/key.pem")
      fi
      "${pin[@]}" "$bin" "$DOCROOT" "${listen[@]}" --workers "$workers" \
        --access-log off --quiet "$@" 2>>"$WORK/barehttpd-$port.err" &
      PID=$!
      STARTED+=("bare $PID")
      ;;
    nginx | lighttpd)
      local run=$WORK/ref-$name-$port
      # TLS is always set here, empty for plain HTTP, so that one in the caller's
      # environment never reaches refserver.sh.
      TLS=$tls TLS_DIR=${CERTS:-} PERF=1 WORKERS=$workers "${pin[@]}" sh "$ACC/refserver.sh" \
        start "$name" "$port" "$DOCROOT" "$run" >/dev/null || die "refserver.sh could not start $name"
      STARTED+=("ref $name $port $run")
      PID=$(cat "$run/$name.pid")
      ;;
    *) die "unknown server $name" ;;
  esac
  wait_http "$port" || die "$name did not answer on port $port (see $WORK)"
}

# stop_entry "bare PID" | "ref NAME PORT RUNDIR" | "pid PID": stop one thing started here
# (a "pid" is a helper: strace, which detaches on SIGINT, or a client).
stop_entry() {
  set -- $1
  case $1 in
    pid)
      kill -INT "$2" 2>/dev/null || true
      wait "$2" 2>/dev/null || true
      ;;
    bare)
      if kill -0 "$2" 2>/dev/null; then
        kill -TERM "$2" 2>/dev/null || true
        local i=0
        while kill -0 "$2" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
        kill -KILL "$2" 2>/dev/null || true
      fi
      wait "$2" 2>/dev/null || true
      ;;
    ref)
      local kids="" pidf=$4/$2.pid
      if [ -f "$pidf" ]; then kids=$(child_pids "$(cat "$pidf")"); fi
      sh "$ACC/refserver.sh" stop "$2" "$3" - "$4" >/dev/null 2>&1 || true
      # The master takes its workers down; any that outlive it are ours to end, by PID
      # (checked to still be that server, not a process that took the PID since).
      local k
      for k in $kids; do
        if [ "$(cat "/proc/$k/comm" 2>/dev/null)" = "$2" ]; then kill -KILL "$k" 2>/dev/null || true; fi
      done
      ;;
  esac
}

# forget PID: a helper ended normally; drop it so that cleanup never signals a reused PID.
forget() {
  local e keep=()
  for e in "${STARTED[@]}"; do [ "$e" = "pid $1" ] || keep+=("$e"); done
  STARTED=("${keep[@]}")
}

stop_all() {
  local e
  for e in "${STARTED[@]}"; do stop_entry "$e"; done
  STARTED=()
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e  # stop everything even if one stop fails
  stop_all
  # Keep the raw results; drop the bulky parts.
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK/docroot" "$WORK/bin" "$WORK"/src-*
  exit $rc
}

# child_pids PID: direct children (nginx and lighttpd workers).
child_pids() { pgrep -P "$1" 2>/dev/null | tr '\n' ' ' || true; }

# server_pids PID: the process and its children: everything whose CPU the server costs.
server_pids() { printf '%s %s\n' "$1" "$(child_pids "$1")"; }

# cpu_ticks PID...: utime+stime of every thread of the given processes, in clock ticks.
# The command name in /proc/PID/stat may hold spaces, so fields are counted after its ')'.
cpu_ticks() {
  local p files=()
  for p in "$@"; do files+=(/proc/"$p"/task/*/stat); done
  cat "${files[@]}" 2>/dev/null | awk '{ sub(/^.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}

# wakeups PID...: context switches so far of every thread of the given processes (a thread
# that sleeps in a wait and wakes counts one each time).
wakeups() {
  local p files=()
  for p in "$@"; do files+=(/proc/"$p"/task/*/status); done
  cat "${files[@]}" 2>/dev/null | awk '/^(non)?voluntary_ctxt_switches:/ { t += $2 } END { print t + 0 }'
}

# rss_kib PID... / pss_kib PID...: resident and proportional set size, summed. PSS splits
# pages shared between a master and its workers, so it does not count them twice.
rss_kib() { sum_kib '^VmRSS:' status "$@"; }
pss_kib() { sum_kib '^Pss:' smaps_rollup "$@"; }
# sum_kib LINE FILE PID...: the KiB on the line matching LINE of /proc/PID/FILE, summed.
sum_kib() {
  local re=$1 file=$2 p t=0 v
  shift 2
  for p in "$@"; do
    v=$(awk -v re="$re" '$0 ~ re {print $2}' "/proc/$p/$file" 2>/dev/null); t=$((t + ${v:-0}))
  done
  printf '%s\n' "$t"
}