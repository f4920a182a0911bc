#!/usr/bin/env bash
# wrk through ten SIGHUP reloads: every reload swaps the root of the site wrk asks for,
# and wrk must report no socket errors and no non-2xx answer.
#   bash bench/reload.sh            (PORT=18181 DUR=10 CONNS=50 RELOADS=10)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-18181} DUR=${DUR:-10} CONNS=${CONNS:-50} RELOADS=${RELOADS:-10}
command -v wrk >/dev/null || { echo "SKIPPED: wrk is not installed (apt-get install wrk)"; exit 0; }
cargo build --release -q
dir=$(mktemp -d)
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$dir"' EXIT
mkdir -p "$dir/a" "$dir/b"
echo "site A" > "$dir/a/index.html"
echo "site B" > "$dir/b/index.html"
config() {
  cat > "$dir/barehttpd.toml" <<TOML
[server]
listen = ["127.0.0.1:$PORT"]
access_log = "off"
workers = 2
[[site]]
names = ["localhost", "127.0.0.1"]
root = "$1"
default = true
TOML
}
config a
./target/release/barehttpd --config "$dir/barehttpd.toml" 2> "$dir/stderr" &
pid=$!
sleep 0.5
(
  step=$(awk "BEGIN { print $DUR / ($RELOADS + 1) }")
  for i in $(seq "$RELOADS"); do
    sleep "$step"
    if [ $((i % 2)) = 1 ]; then config b; else config a; fi
    kill -HUP "$pid"
  done
) &
reloader=$!
out=$(wrk -t2 -c"$CONNS" -d"${DUR}s" "http://127.0.0.1:$PORT/index.html")
wait "$reloader"
echo "$out"
reloads=$(grep -c 'reload: 1 site' "$dir/stderr" || true)
echo "reloads done: $reloads of $RELOADS"
if echo "$out" | grep -q -e 'Socket errors' -e 'Non-2xx'; then
  echo "FAILED: errors or non-2xx answers during the reloads"
  exit 1
fi
[ "$reloads" = "$RELOADS" ] || { echo "FAILED: not every reload was done"; cat "$dir/stderr"; exit 1; }
echo "ok: no socket error and no non-2xx answer through $RELOADS reloads"
