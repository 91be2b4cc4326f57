#!/usr/bin/env bash
# Builds (once) a Debian trixie root filesystem holding the real HAProxy 3.0
# binary, used by test/support/haproxy-check.ts to validate rendered configs
# with `haproxy -c`, and later `docker import`ed as the base of the images.
#
# Usage:
#   bash scripts/rootfs.sh               build if missing; print the path (last stdout line)
#   bash scripts/rootfs.sh --print-path  print the path it would build/reuse; build nothing
#   bash scripts/rootfs.sh --extra-packages certbot,python3-foo [--print-path]
#       the same trixie rootfs plus more packages (comma-separated Debian package
#       names), cached apart as rootfs-trixie-extra-<hash>; scripts/images.sh uses
#       it for the certbot image. Without the option nothing changes.
#
# The result is cached in ${HAPROXY_EDGE_CACHE:-/var/cache/haproxy-edge}/rootfs-trixie-<hash>,
# where <hash> is a short sha256 of the recipe below (script version, suite,
# variant, package list, extra packages if any). It is built in a temporary
# directory and renamed into place only when complete, so an interrupted build
# is never reused. Bump SCRIPT_VERSION to force a rebuild (e.g. to pick up a
# newer trixie point release). Needs root (and network, once). Logs go to stderr.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- recipe: anything here that changes the result must change the hash ---
SCRIPT_VERSION="haproxy-edge-rootfs/2"
SUITE="trixie"
VARIANT="minbase"
PACKAGES="haproxy,socat,openssl,ca-certificates,curl"
MIRROR="${HAPROXY_EDGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

log() { printf 'rootfs.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

PRINT_PATH=""
EXTRA="" # --extra-packages: more packages on top of $PACKAGES (its own cache entry)
USAGE="usage: rootfs.sh [--print-path] [--extra-packages PKG[,PKG...]]"
while (($#)); do
  case "$1" in
    --print-path) PRINT_PATH=1 ;;
    --extra-packages)
      (($# >= 2)) || die "--extra-packages needs a value ($USAGE)"
      EXTRA="$2"
      shift
      ;;
    --extra-packages=*) EXTRA="${1#*=}" ;;
    *) die "unknown argument: $1 ($USAGE)" ;;
  esac
  shift
done
if [[ -n "$EXTRA" ]]; then
  [[ "$EXTRA" =~ ^[a-z0-9][a-z0-9+.-]*(,[a-z0-9][a-z0-9+.-]*)*$ ]] ||
    die "--extra-packages must be comma-separated Debian package names, got: $EXTRA"
fi

recipe_hash() {
  {
    printf '%s\n' "$SCRIPT_VERSION" "suite=$SUITE" "variant=$VARIANT" "include=$PACKAGES"
    if [[ -n "$EXTRA" ]]; then printf '%s\n' "extra=$EXTRA"; fi
  } | sha256sum | cut -c1-12
}

CACHE_DIR="${HAPROXY_EDGE_CACHE:-/var/cache/haproxy-edge}"
if [[ -n "$EXTRA" ]]; then
  NAME="rootfs-${SUITE}-extra-$(recipe_hash)"
  PACKAGES="$PACKAGES,$EXTRA"
else
  NAME="rootfs-${SUITE}-$(recipe_hash)"
fi
FINAL="${CACHE_DIR%/}/${NAME}"

if [[ -n "$PRINT_PATH" ]]; then
  printf '%s\n' "$FINAL"
  exit 0
fi

# Fast path: a completed build exists (only complete builds are ever renamed here).
if [[ -d "$FINAL" ]]; then
  log "reusing cached rootfs $FINAL"
  printf '%s\n' "$FINAL"
  exit 0
fi

[[ "$(id -u)" -eq 0 ]] || die "building the rootfs needs root (debootstrap); run: sudo bash $0"

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
missing=()
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
[[ -r "$KEYRING" ]] || missing+=(debian-archive-keyring) # not preinstalled on Ubuntu
if ((${#missing[@]})); then
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi
[[ -e "/usr/share/debootstrap/scripts/$SUITE" ]] ||
  die "this debootstrap does not know '$SUITE' (upgrade debootstrap)"

mkdir -p "$CACHE_DIR"

# One builder at a time per recipe; a second concurrent caller waits, then reuses.
exec 9>"${CACHE_DIR%/}/.${NAME}.lock"
flock 9
if [[ -d "$FINAL" ]]; then
  log "reusing cached rootfs $FINAL (built concurrently)"
  printf '%s\n' "$FINAL"
  exit 0
fi

# Leftovers of interrupted builds of this recipe (we hold the lock, so none is live).
for stale in "${CACHE_DIR%/}/.${NAME}.tmp."*; do
  [[ -e "$stale" ]] || continue
  log "removing leftover of an interrupted build: $stale"
  rm -rf --one-file-system -- "$stale"
done

TMP="$(mktemp -d "${CACHE_DIR%/}/.${NAME}.tmp.XXXXXX")"
cleanup() {
  if [[ -n "${TMP:-}" && -e "$TMP" ]]; then
    log "cleaning up incomplete build $TMP"
    rm -rf --one-file-system -- "$TMP"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 0755 "$TMP"

log "building $SUITE rootfs ($VARIANT; $PACKAGES) from $MIRROR into $TMP"
start=$SECONDS
# debootstrap mounts /proc and /sys inside the target while it works. Running it
# in a private mount namespace guarantees that none of those mounts can outlive
# it, even if it is killed, so the tree stays a plain directory (docker import).
unshare --mount --propagation private -- \
  debootstrap --variant="$VARIANT" --include="$PACKAGES" --keyring="$KEYRING" \
  "$SUITE" "$TMP" "$MIRROR" >&2

# Slim down: downloaded .debs and apt lists are not needed to run anything.
rm -rf --one-file-system -- "$TMP"/var/cache/apt/archives/*.deb "$TMP"/var/lib/apt/lists/*_Packages \
  "$TMP"/var/cache/apt/*.bin
find "$TMP/tmp" "$TMP/var/tmp" -mindepth 1 -delete 2>/dev/null || true
# debootstrap copies these from the build host; a container gets its own.
rm -f -- "$TMP/etc/hostname" "$TMP/etc/resolv.conf"

# Sanity: the binary runs and is the 3.0 branch; nothing is mounted inside.
version="$(first_line chroot "$TMP" /usr/sbin/haproxy -v)"
log "built in $((SECONDS - start)) s: $version"
[[ "$version" == *" 3.0."* ]] || die "expected HAProxy 3.0.x in $SUITE, got: $version"
if grep -qF " $TMP/" /proc/self/mountinfo || grep -qF " $TMP " /proc/self/mountinfo; then
  die "something is still mounted under $TMP"
fi

mv -T -- "$TMP" "$FINAL"
TMP=""
log "rootfs ready: $FINAL"
printf '%s\n' "$FINAL"
