#!/usr/bin/env bash
# Build the Debian package of barehttpd from a binary already built, with dpkg-deb alone.
#
#   bash dist/deb/build.sh BINARY [OUTDIR]
#
# BINARY is the server to package: for servers the static build .ci/run makes
# (target/x86_64-unknown-linux-musl/release/barehttpd-tls), any build for a test.
# OUTDIR (default target/debian) receives barehttpd_VERSION-REV_ARCH.deb, whose path is
# the last line printed. Nothing is built and nothing is installed.
#
# Why not `cargo deb`: dpkg-deb is on every Debian machine, while `cargo install
# cargo-deb` costs every fresh CI machine minutes (measured in dist/README.md), and
# cargo-deb would build its own binary where CI has built the static one already.
#
# Environment: DEB_ARCH (default: dpkg --print-architecture; set it for a binary built for
# another machine), DEB_REVISION (default 1), DEB_MAINTAINER (default: the author of the
# last commit), SOURCE_DATE_EPOCH (default: the time of the last commit), which dates the
# changelog and every file, so that the same inputs give the same package; DEB_COMPRESS
# (default xz; the tests use none: a debug binary is 40 MB) for dpkg-deb -Z.
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ] || [ ! -f "$1" ]; then
  echo "usage: bash dist/deb/build.sh BINARY [OUTDIR]   (BINARY: a built barehttpd)" >&2
  exit 2
fi
bin=$(realpath "$1")
top=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${2:-$top/target/debian}")
cd "$top"

# What the package is called and for what.
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
revision=${DEB_REVISION:-1}
arch=${DEB_ARCH:-$(dpkg --print-architecture)}
git_or() { git -C "$top" log -1 --format="$1" 2>/dev/null || printf '%s\n' "$2"; }
maintainer=${DEB_MAINTAINER:-$(git_or '%an <%ae>' 'barehttpd maintainers <root@localhost>')}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git_or '%ct' "$(date +%s)")}
name="barehttpd_${version}-${revision}_${arch}"

# The tree the package unpacks to, below $out/$name (made afresh).
root="$out/$name"
rm -rf "$root" "$out/$name.deb"
mkdir -p "$root/DEBIAN"
doc="$root/usr/share/doc/barehttpd"
install -D -m 755 "$bin" "$root/usr/bin/barehttpd"
for unit in barehttpd.service barehttpd.socket barehttpd-https.socket; do
  install -D -m 644 "dist/$unit" "$root/lib/systemd/system/$unit"
done
install -D -m 644 dist/barehttpd.toml "$root/etc/barehttpd/barehttpd.toml"
install -D -m 644 examples/barehttpd.toml "$doc/examples/barehttpd.toml"
install -d -m 755 "$root/usr/share/man/man1"
gzip -9n <dist/barehttpd.1 >"$root/usr/share/man/man1/barehttpd.1.gz"
gzip -9n <README.md >"$doc/README.md.gz"
gzip -9n <dist/README.md >"$doc/README.systemd.md.gz"
install -D -m 644 dist/deb/lintian-overrides "$root/usr/share/lintian/overrides/barehttpd"

# copyright: the project's, then the licences of the crates linked into the binary
# (from Cargo.lock; their texts are in each crate's sources).
{
  cat dist/deb/copyright
  echo "Comment: The binary links these Rust crates statically (cargo tree -e normal):"
  if crates=$(cargo tree --offline --locked -e normal --prefix none -f '{p}: {l}' 2>/dev/null); then
    printf '%s\n' "$crates" | grep -v '^barehttpd ' | sed 's/ ([^)]*\/[^)]*)//; s/ (\*)$//; s/^/ /' | sort -u
  else
    echo " (cargo tree was not available when this package was built; see Cargo.lock)"
  fi
} >"$doc/copyright"
chmod 644 "$doc/copyright"

# changelog.Debian: one entry for this build, as Debian policy §12.7 asks.
{
  echo "barehttpd (${version}-${revision}) unstable; urgency=medium"
  echo
  echo "  * barehttpd ${version}, built from git $(git_or '%h' 'unknown')."
  echo
  echo " -- ${maintainer}  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.Debian.gz"

# Depends: none for a static binary; for a dynamic one what dpkg-shlibdeps finds (it
# wants a source package's debian/control, so it runs in a scratch one).
depends=""
if readelf -lW "$bin" 2>/dev/null | grep -q 'Requesting program interpreter'; then
  scratch=$(mktemp -d)
  trap 'rm -rf "$scratch"' EXIT
  mkdir "$scratch/debian"
  printf 'Source: barehttpd\n\nPackage: barehttpd\nArchitecture: any\n' >"$scratch/debian/control"
  depends=$(cd "$scratch" && dpkg-shlibdeps -O "$root/usr/bin/barehttpd" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')
  if [ -z "$depends" ]; then
    echo "build.sh: $bin is dynamically linked and dpkg-shlibdeps (dpkg-dev) found no dependencies; install dpkg-dev or package the static build" >&2
    exit 1
  fi
fi

# Maintainer scripts and the control file.
install -m 755 dist/deb/postinst dist/deb/prerm dist/deb/postrm "$root/DEBIAN/"
echo /etc/barehttpd/barehttpd.toml >"$root/DEBIAN/conffiles"
chmod 644 "$root/DEBIAN/conffiles"
{
  echo "Package: barehttpd"
  echo "Version: ${version}-${revision}"
  echo "Architecture: ${arch}"
  echo "Maintainer: ${maintainer}"
  echo "Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)"
  [ -z "$depends" ] || echo "Depends: ${depends}"
  echo "Section: httpd"
  echo "Priority: optional"
  echo "Homepage: https://github.com/barehttpd/barehttpd"
  cat dist/deb/description
} >"$root/DEBIAN/control"
chmod 644 "$root/DEBIAN/control"

(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z |
  xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/md5sums"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group "-Z${DEB_COMPRESS:-xz}" --build "$root" "$out/$name.deb" >/dev/null
rm -rf "$root"
echo "$out/$name.deb"
