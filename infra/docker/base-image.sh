#!/usr/bin/env bash
# A small base image with a working python3 (Debian's 3.11, with the stdlib as
# libpython3.11-stdlib ships it: all but ensurepip, lib2to3, tkinter and the tests), made without
# any image registry: the files of this host's python3.11-minimal, libpython3.11-minimal and
# libpython3.11-stdlib packages (with their compiled __pycache__), every shared library `ldd` names
# for the interpreter and the stdlib's extension modules, and busybox-static for a shell and the
# usual tools, staged in a folder and passed to `docker import`. `docker build FROM` it works
# offline (busybox gives RUN its /bin/sh).
#
#   infra/docker/base-image.sh <docker.sock> [tag]    tag defaults to hub-python:3.11
#
# Idempotent: when the daemon already has the tag, nothing is done. Prints the tag on stdout and how
# long it took on stderr. Installs what it needs when missing (root + apt). Exit codes: 0 ok,
# 1 failed, 2 bad usage, 3 cannot install.
# Measured here (2 busy shared cores): 6-8 s, a 49 MB image (most of it `ldd`, the import and the
# check run). `debootstrap --variant=minbase --include=python3.11-minimal,libpython3.11-stdlib` took
# 104 s for a 252 MB tree before any import (it downloads and configures every package), so it is
# not used. Tied to Debian 12's python3.11: another release needs the package names changed.
set -euo pipefail

SOCK="${1:-}"
TAG="${2:-hub-python:3.11}"
if [ -z "$SOCK" ] || [ ! -S "$SOCK" ]; then
  echo "usage: infra/docker/base-image.sh <docker.sock> [tag]  (the socket of a running dockerd)" >&2
  exit 2
fi
STARTED=$(date +%s%N)
DOCKER_CLI="${HUB_DOCKER_CLI:-}"
if [ -z "$DOCKER_CLI" ]; then
  # The client that came with the daemon (Debian's docker.io); another `docker` may be first on PATH.
  if [ -x /usr/bin/docker ]; then DOCKER_CLI=/usr/bin/docker; else DOCKER_CLI="$(command -v docker || true)"; fi
fi
export DOCKER_CONFIG="${DOCKER_CONFIG:-$(dirname "$SOCK")/docker-cli}"
docker_() { "$DOCKER_CLI" -H "unix://$SOCK" "$@"; }

if [ -z "$DOCKER_CLI" ] || [ ! -x "$DOCKER_CLI" ]; then
  echo "base-image.sh: no docker client (infra/docker/dockerd.sh install brings Debian's)" >&2
  exit 3
fi
if docker_ image inspect "$TAG" >/dev/null 2>&1; then
  echo "base-image.sh: $TAG already present" >&2
  echo "$TAG"
  exit 0
fi

PY_PACKAGES=(python3.11-minimal libpython3.11-minimal libpython3.11-stdlib)
missing=()
for p in "${PY_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' || missing+=(busybox-static)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "base-image.sh: cannot install ${missing[*]} (needs root and apt-get)" >&2
    exit 3
  fi
  echo "base-image.sh: installing ${missing[*]}" >&2
  log="${TMPDIR:-/tmp}/hub-base-image-apt.log"
  if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 \
    --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    echo "base-image.sh: apt-get install failed; see $log" >&2
    exit 3
  fi
fi

STAGE="$(mktemp -d "${TMPDIR:-/tmp}/hub-base-image.XXXXXX")"
trap 'rm -rf "$STAGE"' EXIT

# 1. The Python packages' files (not their docs), with the .pyc files Debian compiled at install.
LIST="$STAGE.files"
trap 'rm -rf "$STAGE" "$LIST"' EXIT
dpkg -L "${PY_PACKAGES[@]}" | grep -v -E '^/usr/share/(doc|man|lintian)/' | while IFS= read -r p; do
  if [ -L "$p" ] || [ -f "$p" ]; then
    echo "$p"
    if [[ "$p" == *.py ]]; then # bash only: a fork per file costs seconds here
      base="${p##*/}"
      pyc="${p%/*}/__pycache__/${base%.py}.cpython-311.pyc"
      if [ -f "$pyc" ]; then echo "$pyc"; fi
    fi
  fi
done | sort -u >"$LIST"
mkdir -p "$STAGE/root"
R="$STAGE/root"
tar -C / -cf - --no-recursion --files-from <(sed 's|^/||' "$LIST") | tar -C "$R" -xf -

# 2. The shared libraries the interpreter and the extension modules load, under /usr (the image is
#    merged-/usr like Debian 12: /lib, /lib64, /bin and /sbin are links into /usr).
mkdir -p "$R/usr/bin" "$R/usr/sbin" "$R/usr/lib" "$R/usr/lib64"
ln -s usr/bin "$R/bin"
ln -s usr/sbin "$R/sbin"
ln -s usr/lib "$R/lib"
ln -s usr/lib64 "$R/lib64"
mapfile -t objects < <(grep -E '^/usr/bin/python3\.11$|\.so$' "$LIST")
{ ldd "${objects[@]}" 2>/dev/null || true; } | awk '/=> \// {print $3} /^\t\// {print $1}' | sort -u |
  while IFS= read -r lib; do
    rel="${lib#/usr}"
    mkdir -p "$R/usr${rel%/*}"
    cp -L "$lib" "$R/usr$rel"
  done
ln -s python3.11 "$R/usr/bin/python3"
ln -s python3 "$R/usr/bin/python"

# 3. busybox (static) for /bin/sh and the usual tools, a passwd with root and nobody, /tmp.
cp /bin/busybox "$R/usr/bin/busybox"
/bin/busybox --list | /usr/bin/python3.11 -I -c '
import os, sys
d = sys.argv[1]
for a in sys.stdin.read().split():
    if not os.path.lexists(os.path.join(d, a)):
        os.symlink("busybox", os.path.join(d, a))
' "$R/usr/bin"
mkdir -p "$R/etc" "$R/tmp" "$R/root" "$R/proc" "$R/sys" "$R/dev" "$R/run" "$R/var/tmp" "$R/home"
chmod 1777 "$R/tmp" "$R/var/tmp"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$R/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$R/etc/group"

# 4. Import, then prove it runs.
if ! tar -C "$R" --numeric-owner --owner=0 --group=0 -cf - . | docker_ import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["python3"]' \
  --message "hub base image: Debian python3.11 + busybox from $(hostname)" - "$TAG" >/dev/null; then
  echo "base-image.sh: docker import failed" >&2
  exit 1
fi
if ! out=$(docker_ run --rm --network=none "$TAG" python3 -c 'import ssl, sqlite3, json, http.server; print(1+1)' 2>&1) || [ "$out" != 2 ]; then
  echo "base-image.sh: the imported image does not run python3: $out" >&2
  docker_ image rm "$TAG" >/dev/null 2>&1 || true
  exit 1
fi
echo "base-image.sh: made $TAG ($(docker_ image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%d MB", $1/1e6}')) in $((($(date +%s%N) - STARTED) / 1000000)) ms" >&2
echo "$TAG"
