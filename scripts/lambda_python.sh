#!/usr/bin/env bash
# Prints the path of a command that runs the Lambda runtime's Python version, 3.13, from Debian trixie:
#   scripts/lambda_python.sh          python3.13 for arm64 (the runtime's architecture), under qemu-user:
#                                     CI runs the built artifact with it (scripts/artifact_smoke.sh)
#   scripts/lambda_python.sh --host   the same python3.13 built for this machine (amd64), run with its own
#                                     C library: layers/common/Makefile compiles the layer's bytecode with
#                                     it, 40x faster than under emulation and byte for byte the same
#                                     .pyc files (a .pyc depends on the Python version only; CI checks it)
# Everything comes from Debian with apt (no Docker, no root needed): a private apt configuration (its own
# sources, lists, cache and status, APT::Architecture=arm64) downloads python3.13 and the libraries it
# loads for arm64 and amd64, and qemu-user-static (the static qemu-aarch64 of bookworm: no libraries
# needed, runs on any amd64 Linux); `dpkg-deb -x` unpacks them. The result is cached outside the clone,
# in $PROGRESS_CI_CACHE (default /var/cache/progress-ci, else ~/.cache/progress-ci when that is not
# writable): only the first run downloads (about 90 MB, under a minute); later runs answer at once.
set -euo pipefail

script_dir="$(cd "$(dirname "$0")" && pwd)"
flavour=python3.13
if [[ "${1:-}" == --host ]]; then
    flavour=python3.13-host
elif [[ -n "${1:-}" ]]; then
    echo "usage: $0 [--host]" >&2
    exit 2
fi
cache="${PROGRESS_CI_CACHE:-/var/cache/progress-ci}"
if ! mkdir -p "$cache" 2>/dev/null || [[ ! -w "$cache" ]]; then
    cache="${XDG_CACHE_HOME:-$HOME/.cache}/progress-ci"
    mkdir -p "$cache"
fi
# A new version of this script (another package list, another release) builds a new folder.
stamp="$(sha256sum "$script_dir/lambda_python.sh" | cut -c1-12)"
home="$cache/python3.13-$stamp"
if [[ -x "$home/bin/$flavour" ]]; then
    echo "$home/bin/$flavour"
    exit 0
fi

host_arch="$(dpkg --print-architecture 2>/dev/null || echo unknown)"
if [[ "$host_arch" != amd64 ]]; then
    echo "lambda_python.sh: expects an amd64 (x86_64) Debian host, found $host_arch" >&2
    exit 1
fi
python_release=trixie  # Debian 13: python3.13
qemu_release=bookworm  # Debian 12: the last qemu-user-static with its own static binaries
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

exec 9>"$cache/.lock"
flock 9  # two CI runs at once: one downloads, the other waits and reuses
if [[ -x "$home/bin/$flavour" ]]; then
    echo "$home/bin/$flavour"
    exit 0
fi

work="$(mktemp -d "$cache/.work.XXXXXX")"
trap 'rm -rf "$work"' EXIT
apt_dir="$cache/apt"  # the package lists, kept: the next `apt-get update` fetches only what changed
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/etc/sources.list.d" \
    "$apt_dir/etc/preferences.d"
touch "$apt_dir/status"
cat >"$apt_dir/etc/sources.list" <<EOF
deb [arch=arm64,amd64 signed-by=$keyring] http://deb.debian.org/debian $python_release main
deb [arch=amd64 signed-by=$keyring] http://deb.debian.org/debian $qemu_release main
EOF
cat >"$apt_dir/apt.conf" <<EOF
Dir::Etc::SourceList "$apt_dir/etc/sources.list";
Dir::Etc::SourceParts "$apt_dir/etc/sources.list.d";
Dir::Etc::Preferences "$apt_dir/etc/preferences";
Dir::Etc::PreferencesParts "$apt_dir/etc/preferences.d";
Dir::State::Lists "$apt_dir/lists";
Dir::State::Status "$apt_dir/status";
Dir::Cache "$apt_dir";
Dir::Cache::Archives "$apt_dir/archives";
APT::Architecture "arm64";
APT::Architectures { "arm64"; "amd64"; };
APT::Sandbox::User "root";
EOF
export APT_CONFIG="$apt_dir/apt.conf"
echo "lambda_python.sh: fetching python3.13 ($python_release, arm64 and amd64) and qemu-user-static into $cache" >&2
apt-get -qq update >&2

# python3.13 and the libraries it loads, without what only maintainer scripts, perl, dbm or the
# system's zoneinfo need (the layer ships tzdata).
packages=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
    --no-replaces --no-enhances "python3.13-minimal:arm64/$python_release" "libpython3.13-stdlib:arm64/$python_release" |
    grep -v '^ ' | grep -v ':amd64$' | sed 's/:arm64$//' | sort -u |
    grep -Ev '^(<.*>|c?debconf|perl.*|libperl.*|libdebian-installer.*|libnewt.*|libslang.*|libtextwrap.*|mailcap|mime-support|media-types|tzdata|netbase|readline-common|libgdbm.*|libdb5.*)$')
mkdir -p "$work/arm64" "$work/amd64" "$work/qemu"
# shellcheck disable=SC2086 # one word per package
(cd "$work/arm64" && apt-get -qq download $(printf "%s:arm64/$python_release " $packages) >&2)
# shellcheck disable=SC2086
(cd "$work/amd64" && apt-get -qq download $(printf "%s:amd64/$python_release " $packages) >&2)
(cd "$work/qemu" && apt-get -qq download "qemu-user-static:amd64/$qemu_release" >&2)

partial="$work/home"
mkdir -p "$partial/root" "$partial/host" "$partial/qemu" "$partial/bin"
for deb in "$work"/arm64/*.deb; do dpkg-deb -x "$deb" "$partial/root"; done
for deb in "$work"/amd64/*.deb; do dpkg-deb -x "$deb" "$partial/host"; done
dpkg-deb -x "$work"/qemu/qemu-user-static_*.deb "$partial/qemu"
find "$partial/qemu" -type f ! -name qemu-aarch64-static -delete  # 1 of its 30 emulators is needed
# merged /usr: qemu looks up the loader at /lib/ld-linux-aarch64.so.1
ln -sfn usr/lib "$partial/root/lib"
ln -sfn usr/bin "$partial/root/bin"
(cd "$work" && ls arm64 amd64 qemu) >"$partial/packages.txt"

cat >"$partial/bin/python3.13" <<'EOF'
#!/bin/sh
# Debian's python3.13 for arm64 under qemu-user (made by scripts/lambda_python.sh)
home="$(cd "$(dirname "$0")/.." && pwd)"
exec "$home/qemu/usr/bin/qemu-aarch64-static" -L "$home/root" "$home/root/usr/bin/python3.13" "$@"
EOF
cat >"$partial/bin/python3.13-host" <<'EOF'
#!/bin/sh
# Debian's python3.13 for amd64 with its own C library (made by scripts/lambda_python.sh); one process:
# a child started with sys.executable would meet the system's older C library (compileall -j fails)
home="$(cd "$(dirname "$0")/.." && pwd)"
lib="$home/host/usr/lib/x86_64-linux-gnu"
exec "$lib/ld-linux-x86-64.so.2" --library-path "$lib" "$home/host/usr/bin/python3.13" "$@"
EOF
chmod +x "$partial/bin/python3.13" "$partial/bin/python3.13-host"
"$partial/bin/python3.13" -S -c 'import platform, sys; assert sys.version_info[:2] == (3, 13) and platform.machine() == "aarch64"'
"$partial/bin/python3.13-host" -S -c 'import platform, sys; assert sys.version_info[:2] == (3, 13) and platform.machine() == "x86_64"'
# The standard library's bytecode, as Debian's postinst compiles it (the Lambda runtime ships it compiled
# too): without it every emulated start would compile the stdlib it imports. Both trees are compiled by
# the host's python3.13 (the same version, so the same bytecode; emulated it takes minutes).
for tree in root host; do
    "$partial/bin/python3.13-host" -m compileall -q -s "$partial" -p "$home" \
        "$partial/$tree/usr/lib/python3.13" >/dev/null || true
done
mv "$partial" "$home"
echo "$home/bin/$flavour"
