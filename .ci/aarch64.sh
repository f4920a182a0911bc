#!/usr/bin/env bash
# The whole test suite (unit and integration tests) against an aarch64 Linux build, run under
# qemu-user on this machine: the test binaries by cargo's runner, the server by the tests
# (tests/common: `runner`, `server_command`). `.ci/aarch64-setup.sh` installs what it needs
# on Debian, or says SKIPPED: and why. Extra arguments go to `cargo test`
# (`bash .ci/aarch64.sh --test range`). A test failure exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
SKIP_WHAT="aarch64 tests under qemu"
. .ci/aarch64-setup.sh

echo "== cargo test --target $target (under $("$QEMU" --version | head -n 1))"
cargo build --tests --target "$target"
start=$(date +%s)
cargo test --target "$target" "$@"
echo "== aarch64 test suite under qemu passed in $(($(date +%s) - start)) s"
