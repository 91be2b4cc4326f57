#!/usr/bin/env bash
# Builds (once) the HAProxy Data Plane API binary from a pinned commit and prints
# its path as the last stdout line. scripts/images.sh copies it into the
# haproxy-edge/dataplaneapi image; tests may run it on the host.
#
# Usage:
#   bash scripts/dataplaneapi.sh               build if missing; print the path (last stdout line)
#   bash scripts/dataplaneapi.sh --print-path  print the path it would build/reuse; build nothing
#   HAPROXY_EDGE_DATAPLANEAPI_BIN=/path/dataplaneapi bash scripts/dataplaneapi.sh
#       use that prebuilt binary (same commit, static) instead: checked, printed, nothing built
#
# The binary is cached in ${HAPROXY_EDGE_CACHE:-/var/cache/haproxy-edge}/dataplaneapi-<commit12>/.
# It is built into a temporary directory next to it and renamed into place only
# when complete, under a lock, so concurrent callers are safe and an interrupted
# build is never reused. Needs Go >= 1.24 (`go` on PATH, $GO, or /usr/local/go/bin/go)
# and the Go module proxy (once). Where the proxy refuses github.com/haproxytech/*, the same commit
# is built from the archives in ../shared/vendor (HAPROXY_EDGE_VENDOR_DIR); the log and BUILDINFO
# say which source was used. Logs go to stderr.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- recipe: the commit is pinned by hash, never by tag ---
MODULE="github.com/haproxytech/dataplaneapi"
COMMIT="3f1e3ef3bba6660fe37aebe3a6d904d877daa66c"
GIT_TAG="v3.2.7"
# Fixed, so two builds of the same commit are identical (dataplaneapi's own format).
BUILD_TIME="2025-01-01T00:00:00"
MIN_GO_MINOR=24 # go1.24
BUILD_TIMEOUT="${HAPROXY_EDGE_GO_BUILD_TIMEOUT:-1500}"
# Where the module proxy refuses github.com/haproxytech/*: the same commit and its haproxytech modules.
VENDOR_DIR="${HAPROXY_EDGE_VENDOR_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/../shared/vendor}"
VENDOR_ARCHIVES=("dataplaneapi-${GIT_TAG}" client-native-v6.2.6 client-native-v5.1.15 go-logger-v1.1.0)

log() { printf 'dataplaneapi.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

CACHE_DIR="${HAPROXY_EDGE_CACHE:-/var/cache/haproxy-edge}"
NAME="dataplaneapi-${COMMIT:0:12}"
FINAL="${CACHE_DIR%/}/${NAME}"
BIN="$FINAL/dataplaneapi"

case "${1:-}" in
  --print-path)
    printf '%s\n' "$BIN"
    exit 0
    ;;
  "") ;;
  *) die "unknown argument: $1 (usage: dataplaneapi.sh [--print-path])" ;;
esac

# A prebuilt binary of the same commit, e.g. where the module proxy does not serve it.
if [[ -n "${HAPROXY_EDGE_DATAPLANEAPI_BIN:-}" ]]; then
  [[ -x "$HAPROXY_EDGE_DATAPLANEAPI_BIN" && -f "$HAPROXY_EDGE_DATAPLANEAPI_BIN" ]] ||
    die "HAPROXY_EDGE_DATAPLANEAPI_BIN=$HAPROXY_EDGE_DATAPLANEAPI_BIN is not an executable file"
  log "using HAPROXY_EDGE_DATAPLANEAPI_BIN=$HAPROXY_EDGE_DATAPLANEAPI_BIN (not built here)"
  printf '%s\n' "$HAPROXY_EDGE_DATAPLANEAPI_BIN"
  exit 0
fi

# Fast path: only complete builds are ever renamed into place.
if [[ -x "$BIN" ]]; then
  log "reusing cached $BIN"
  printf '%s\n' "$BIN"
  exit 0
fi

GO_BIN="${GO:-}"
if [[ -z "$GO_BIN" ]]; then
  GO_BIN="$(command -v go || true)"
  [[ -n "$GO_BIN" ]] || GO_BIN=/usr/local/go/bin/go
fi
[[ -x "$GO_BIN" ]] || die "Go not found (looked at \$GO, PATH and /usr/local/go/bin/go); Go >= 1.${MIN_GO_MINOR} is needed"
# Never let the go command fetch another toolchain: the one found must do.
export GOTOOLCHAIN=local
go_version="$("$GO_BIN" env GOVERSION)" || die "$GO_BIN env GOVERSION failed"
if [[ ! "$go_version" =~ ^go1\.([0-9]+) ]] || ((BASH_REMATCH[1] < MIN_GO_MINOR)); then
  die "$GO_BIN is $go_version; dataplaneapi ${GIT_TAG} needs Go >= 1.${MIN_GO_MINOR}"
fi

mkdir -p "$CACHE_DIR"
# Without HOME (some CI shells) the go command has no default build/module cache.
if [[ -z "${HOME:-}" ]]; then
  export GOCACHE="${GOCACHE:-${CACHE_DIR%/}/go-build}" GOMODCACHE="${GOMODCACHE:-${CACHE_DIR%/}/go-mod}"
fi

# One builder at a time; a second concurrent caller waits, then reuses.
exec 9>"${CACHE_DIR%/}/.${NAME}.lock"
flock 9
if [[ -x "$BIN" ]]; then
  log "reusing cached $BIN (built concurrently)"
  printf '%s\n' "$BIN"
  exit 0
fi
for stale in "${CACHE_DIR%/}/.${NAME}.tmp."*; do
  [[ -e "$stale" ]] || continue
  log "removing leftover of an interrupted build: $stale"
  rm -rf -- "$stale"
done

TMP="$(mktemp -d "${CACHE_DIR%/}/.${NAME}.tmp.XXXXXX")"
cleanup() {
  if [[ -n "${TMP:-}" && -e "$TMP" ]]; then rm -rf -- "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 0755 "$TMP"

ldflags="-X main.GitTag=${GIT_TAG} -X main.GitCommit=${COMMIT:0:8} -X main.GitDirty= -X main.BuildTime=${BUILD_TIME}"
log "building ${MODULE}@${COMMIT} (${GIT_TAG}) with $go_version (up to ${BUILD_TIMEOUT} s)"
start=$SECONDS
# The normal source: the Go module proxy. A dedicated GOBIN: `go install` writes only the one binary.
source_used="Go module proxy ${MODULE}@${COMMIT}"
if ! env GOBIN="$TMP" CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
  timeout "$BUILD_TIMEOUT" "$GO_BIN" install -trimpath -ldflags "$ldflags" \
  "${MODULE}/cmd/dataplaneapi@${COMMIT}" >"$TMP/build.log" 2>&1; then
  if ! grep -qE '(403|404|410) |not available|invalid version' "$TMP/build.log"; then
    cat "$TMP/build.log" >&2
    die "go install ${MODULE}/cmd/dataplaneapi@${COMMIT} failed (output above; timeout ${BUILD_TIMEOUT} s)"
  fi
  # The proxy refuses github.com/haproxytech/* here: build the same commit from ../shared/vendor, with the
  # haproxytech modules it needs extracted side by side and wired in with replace directives.
  log "the Go module proxy does not serve ${MODULE} or a module it needs: $(grep -m1 -oE '(403|404|410) [^"]*' "$TMP/build.log" || echo 'refused')"
  [[ -d "$VENDOR_DIR" ]] || die "no vendor directory $VENDOR_DIR (set HAPROXY_EDGE_VENDOR_DIR, GOPROXY, or HAPROXY_EDGE_DATAPLANEAPI_BIN)"
  src="$TMP/src"
  mkdir -p "$src"
  for a in "${VENDOR_ARCHIVES[@]}"; do
    [[ -f "$VENDOR_DIR/$a.tar.gz" ]] || die "missing $VENDOR_DIR/$a.tar.gz"
    mkdir -p "$src/$a"
    tar -xzf "$VENDOR_DIR/$a.tar.gz" -C "$src/$a" --strip-components=1
  done
  source_used="vendor $(for a in "${VENDOR_ARCHIVES[@]}"; do printf '%s.tar.gz ' "$a"; done)"
  log "building from $source_used"
  for m in "dataplaneapi-${GIT_TAG}" client-native-v6.2.6 client-native-v5.1.15; do
    env -C "$src/$m" "$GO_BIN" mod edit \
      -replace "github.com/haproxytech/client-native/v6=$src/client-native-v6.2.6" \
      -replace "github.com/haproxytech/client-native/v5=$src/client-native-v5.1.15" \
      -replace "github.com/haproxytech/go-logger=$src/go-logger-v1.1.0"
  done
  if ! env -C "$src/dataplaneapi-${GIT_TAG}" CGO_ENABLED=0 GOFLAGS=-buildvcs=false timeout "$BUILD_TIMEOUT" \
    "$GO_BIN" build -mod=mod -trimpath -ldflags "$ldflags" -o "$TMP/dataplaneapi" ./cmd/dataplaneapi \
    >>"$TMP/build.log" 2>&1; then
    tail -n 30 "$TMP/build.log" >&2
    die "go build of dataplaneapi from $VENDOR_DIR failed (output above; timeout ${BUILD_TIMEOUT} s)"
  fi
  rm -rf -- "$src"
fi
rm -f -- "$TMP/build.log"
[[ -x "$TMP/dataplaneapi" ]] || die "go install produced no $TMP/dataplaneapi"
version="$(first_line "$TMP/dataplaneapi" --version 2>/dev/null)" || true
log "built in $((SECONDS - start)) s: ${version:-?}"
printf 'module=%s\ncommit=%s\ntag=%s\ngo=%s\nldflags=%s\nsource=%s\n' "$MODULE" "$COMMIT" "$GIT_TAG" "$go_version" \
  "$ldflags" "$source_used" >"$TMP/BUILDINFO"

if mv -T -- "$TMP" "$FINAL"; then
  TMP=""
else
  [[ -x "$BIN" ]] || die "cannot move the build into $FINAL (remove it if it is a broken leftover)"
fi
log "binary ready: $BIN"
printf '%s\n' "$BIN"
