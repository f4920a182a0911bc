# .ci/aarch64-setup.sh: sourced (never run) by .ci/aarch64.sh and bench/qemu_smoke.sh.
# Makes this Debian machine able to build for aarch64 Linux and run the result under
# qemu-user: the cross linker and C library, qemu-user, the Rust target. Then sets `target`,
# `sysroot`, `QEMU` and cargo's linker and runner for the target (exported, for this process
# only; nothing is written to a cargo config, so native builds are untouched).
#
# Where something cannot be installed, or this qemu cannot run the server (qemu-user before
# 9.2 has no openat2: every file request would fail), it prints a line starting `SKIPPED:`
# with the reason and exits 0: the caller never reports a pass for what it did not run.

target=aarch64-unknown-linux-gnu
sysroot=/usr/aarch64-linux-gnu
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"

# The caller may set SKIP_WHAT (what is skipped, for the message).
skip() {
  echo "SKIPPED: ${SKIP_WHAT:-aarch64 under qemu}: $*"
  exit 0
}

apt_install() { # packages...
  command -v apt-get >/dev/null || return 1
  $SUDO apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

qemu() { command -v qemu-aarch64 || command -v qemu-aarch64-static || true; }

need=()
command -v aarch64-linux-gnu-gcc >/dev/null || need+=(gcc-aarch64-linux-gnu)
[ -e "$sysroot/lib/libc.so.6" ] && [ -e "$sysroot/lib/crt1.o" ] || need+=(libc6-dev-arm64-cross)
[ -n "$(qemu)" ] || need+=(qemu-user)
if [ ${#need[@]} -gt 0 ] && ! apt_install "${need[@]}"; then
  skip "could not install ${need[*]} (apt-get missing or failed)"
fi

if ! command -v rustup >/dev/null; then
  skip "rustup is not installed, so the $target standard library cannot be added"
elif ! rustup target list --installed | grep -qx "$target" &&
  ! why=$(rustup target add "$target" 2>&1); then
  skip "rustup target add $target failed: $(printf '%s\n' "$why" | grep -m1 -i error || printf '%s\n' "$why" | head -n 1)"
fi

# The server opens every file with openat2(RESOLVE_BENEATH); qemu-user learnt it in 9.2
# (Debian bookworm has 7.2, bookworm-backports 10.0). Ask this qemu directly.
probe_dir=$(mktemp -d)
cat >"$probe_dir/openat2.c" <<'EOF'
#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>
/* Exit 1 when openat2 is not implemented; any other answer (EINVAL here) means it is. */
int main(void) { return syscall(SYS_openat2, -100, ".", (void *)0, 0) == -1 && errno == ENOSYS; }
EOF
aarch64-linux-gnu-gcc -O -o "$probe_dir/openat2" "$probe_dir/openat2.c"
has_openat2() { "$(qemu)" -L "$sysroot" "$probe_dir/openat2"; }
if ! has_openat2; then
  old=$("$(qemu)" --version | head -n 1)
  if grep -qs '^VERSION_CODENAME=bookworm' /etc/os-release; then
    echo "== $old has no openat2: qemu-user from bookworm-backports"
    list=/etc/apt/sources.list.d/bookworm-backports.sources
    [ -e "$list" ] || printf '%s\n' 'Types: deb' 'URIs: http://deb.debian.org/debian' \
      'Suites: bookworm-backports' 'Components: main' \
      'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' | $SUDO tee "$list" >/dev/null
    apt_install -t bookworm-backports qemu-user || true
  fi
  if ! has_openat2; then
    rm -rf "$probe_dir"
    skip "$("$(qemu)" --version | head -n 1) has no openat2 (ENOSYS), which the server needs for every file; qemu-user 9.2 or later has it"
  fi
fi
rm -rf "$probe_dir"

QEMU=$(qemu)
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# aws-lc-sys (TLS) compiles AWS-LC's C for the target; cc-rs would guess these names from the
# target too, but saying them keeps a host `cc` from ever being used by mistake.
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="$QEMU -L $sysroot"
