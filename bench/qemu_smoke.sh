#!/usr/bin/env bash
# bench/qemu_smoke.sh: does the aarch64 Linux release build serve? A functional smoke test,
# not a benchmark: the release binary for aarch64-unknown-linux-gnu runs under qemu-user on
# 127.0.0.1 (ephemeral port), and a few answers are checked: a small file, a 404, a Range,
# two requests on one keep-alive connection. Timings under emulation say nothing about an
# aarch64 machine, so none are taken.
#
#   bash bench/qemu_smoke.sh       about a minute (most of it the release build)
#
# Installs what it needs through .ci/aarch64-setup.sh, or prints SKIPPED: and why. Exits
# non-zero when a check fails; the server it started is stopped in every case.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
cd "$ROOT"
SKIP_WHAT="aarch64 smoke test under qemu"
. .ci/aarch64-setup.sh
command -v curl >/dev/null || apt_install curl || skip "curl is not installed and could not be"

WORK=$(mktemp -d /tmp/barehttpd-qemu-smoke.XXXXXX)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== cargo build --release --target $target"
cargo build --release --target "$target"
# A copy, so that a concurrent build cannot swap the binary mid-run.
BIN=$WORK/barehttpd
cp "target/$target/release/barehttpd" "$BIN"

mkdir -p "$WORK/www"
printf 'Hello, world\n' >"$WORK/www/hello.txt"
head -c 100000 /dev/urandom >"$WORK/www/big.bin"

"$QEMU" -L "$sysroot" "$BIN" "$WORK/www" --listen 127.0.0.1:0 --workers 2 \
  --access-log off 2>"$WORK/stderr" &
SERVER_PID=$!
PORT=""
for _ in $(seq 100); do
  PORT=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$WORK/stderr" | head -n 1)
  [ -n "$PORT" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$PORT" ] || { cat "$WORK/stderr" >&2; echo "qemu smoke: the server printed no banner" >&2; exit 1; }
URL=http://127.0.0.1:$PORT
echo "== barehttpd ($(file -b "$BIN" | cut -d, -f1-2)) under $("$QEMU" --version | head -n 1) on $URL"

passed=0
check() { # WHAT EXPECTED ACTUAL
  if [ "$2" = "$3" ]; then
    passed=$((passed + 1))
    echo "ok    $1"
  else
    echo "FAIL  $1: expected $(printf %q "$2"), got $(printf %q "$3")" >&2
    exit 1
  fi
}

check "GET /hello.txt: 200" 200 "$(curl -s -o "$WORK/got" -w '%{http_code}' "$URL/hello.txt")"
check "GET /hello.txt: the file's bytes" "$(sha256sum <"$WORK/www/hello.txt")" "$(sha256sum <"$WORK/got")"
check "GET /missing: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/missing")"
check "Range bytes=1000-1999: 206" 206 \
  "$(curl -s -r 1000-1999 -D "$WORK/head" -o "$WORK/got" -w '%{http_code}' "$URL/big.bin")"
check "Range: Content-Range" "bytes 1000-1999/100000" \
  "$(sed -n 's/^[Cc]ontent-[Rr]ange: *\([^\r]*\).*/\1/p' "$WORK/head")"
check "Range: the file's bytes 1000-1999" \
  "$(tail -c +1001 "$WORK/www/big.bin" | head -c 1000 | sha256sum)" "$(sha256sum <"$WORK/got")"
# Two URLs in one curl run share a connection when the server keeps it open: the second
# transfer then makes no new connection.
check "keep-alive: two 200s, the second on the first's connection" "200 1,200 0," \
  "$(curl -s -o /dev/null -o /dev/null -w '%{http_code} %{num_connects},' "$URL/hello.txt" "$URL/big.bin")"

kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
kill -0 "$SERVER_PID" 2>/dev/null && { echo "qemu smoke: the server did not stop" >&2; exit 1; }
SERVER_PID=""
echo "qemu smoke: $passed checks passed; the server stopped on SIGTERM"
echo "NOTE: no timings: under qemu emulation they say nothing about aarch64 hardware; this is a functional test only"
