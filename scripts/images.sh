#!/usr/bin/env bash
# Builds the project's Docker images locally (no registry, no network inside the
# builds), each cached by a recipe hash, for the system test tier.
#
# Usage:
#   bash scripts/images.sh [IMAGE...]   (as root, with a running engine: bash scripts/docker.sh)
#
# IMAGE is a short name (base, haproxy, certbot-base, certbot, demo-backend,
# acme-lab-base, acme-lab, dataplaneapi); default: all, in that order. Dependencies are built first. Tags (an interface):
#   haproxy-edge/base:trixie            docker import of the HAProxy 3.0 trixie rootfs (scripts/rootfs.sh)
#   haproxy-edge/haproxy:3.0            load balancer and workers
#   haproxy-edge/dataplaneapi:3.2.7     Data Plane API sidecar (scripts/dataplaneapi.sh) + haproxy
#   haproxy-edge/certbot-base:trixie    docker import of the rootfs with certbot (rootfs.sh --extra-packages)
#   haproxy-edge/certbot:trixie         certbot + dns-rfc2136 plugin, socat, flock, bash
#   haproxy-edge/demo-backend:1         scripts/demo-backend, a JSON echo HTTP server
#   haproxy-edge/acme-lab-base:trixie   docker import of the rootfs with pebble and bind9
#   haproxy-edge/acme-lab:trixie        a private ACME server (pebble) and an RFC 2136 DNS server (bind9)
#                                       for the certificate tests (test/system/acme-lab.ts); not part of the product
#
# Every image carries the labels haproxy-edge.image=<short name> and
# haproxy-edge.recipe=<sha256 of everything that makes it: Dockerfile or import
# changes, input files, rootfs identity, versions, parent's recipe>. An image
# whose tag already carries the same recipe is reused. stdout gets one line per
# image: `<tag> <cached|built> <seconds>s`; progress and errors go to stderr.
# The whole run is bounded by HAPROXY_EDGE_IMAGES_TIMEOUT (default 2400 s).
set -euo pipefail
shopt -s inherit_errexit

export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RECIPE_VERSION="haproxy-edge-images/1"
# The certbot rootfs: debootstrap resolves no virtual packages, so the cffi backend is named.
CERTBOT_PACKAGES="certbot,python3-certbot-dns-rfc2136,python3-cffi-backend,util-linux"
# The ACME lab of the certificate tests: Debian's pebble and bind9 (+ dig, nsupdate).
ACME_LAB_PACKAGES="pebble,bind9,bind9-dnsutils"
CACHE_DIR="${HAPROXY_EDGE_CACHE:-/var/cache/haproxy-edge}"
LOG_DIR=/var/log/haproxy-edge/images
BUDGET="${HAPROXY_EDGE_IMAGES_TIMEOUT:-2400}"
DEADLINE=$((SECONDS + BUDGET))
# Dockerfile builds only; client 28 without buildx against dockerd 20.10 uses the classic builder.
export DOCKER_BUILDKIT=0

log() { printf 'images.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
budget() { # sets LEFT to the seconds left of the run's budget, or dies
  LEFT=$((DEADLINE - SECONDS))
  ((LEFT > 0)) || die "the run exceeded its budget of ${BUDGET} s (HAPROXY_EDGE_IMAGES_TIMEOUT)"
}
sha() { sha256sum | cut -d' ' -f1; }
now() { printf '%s\n' "${EPOCHREALTIME/[.,]/}"; } # microseconds
elapsed() { # elapsed START_US -> "12.3"
  local us=$(($(now) - $1))
  printf '%d.%d\n' $((us / 1000000)) $((us % 1000000 / 100000))
}

# bounded LOGFILE DESCRIPTION CMD...: runs CMD within the remaining budget, output to LOGFILE;
# on failure prints the log's tail and dies.
bounded() {
  local logfile="$1" what="$2" status=0
  shift 2
  budget
  timeout "$LEFT" "$@" >>"$logfile" 2>&1 </dev/null || status=$?
  if ((status)); then
    log "last lines of $logfile:"
    tail -n 25 "$logfile" >&2 || true
    if ((status == 124)); then die "$what did not finish within the run's budget (${BUDGET} s)"; fi
    die "$what failed (exit status $status)"
  fi
}

# --- inputs -------------------------------------------------------------------

find_go() {
  local go="${GO:-}"
  if [[ -z "$go" ]]; then
    go="$(command -v go || true)"
    [[ -n "$go" ]] || go=/usr/local/go/bin/go
  fi
  [[ -x "$go" ]] || die "Go not found (looked at \$GO, PATH and /usr/local/go/bin/go); the demo backend needs it"
  printf '%s\n' "$go"
}

# cached_output NAME LOGFILE SCRIPT ARGS...: runs a caching script of ours (within the budget, its
# messages to LOGFILE) and sets OUTPUT to the path it prints last.
cached_output() {
  local name="$1" logfile="$2" status=0
  shift 2
  log "$name: bash ${*#"$ROOT/"} (cached after the first build; log: $logfile)"
  budget
  OUTPUT="$(timeout "$LEFT" bash "$@" </dev/null 2>>"$logfile" | tail -n 1)" || status=$?
  if ((status)); then
    log "last lines of $logfile:"
    tail -n 25 "$logfile" >&2 || true
    if ((status == 124)); then die "$name did not finish within the run's budget (${BUDGET} s)"; fi
    die "$name failed (exit status $status)"
  fi
}

# rootfs_path [EXTRA_PACKAGES]: builds or reuses a cached rootfs (scripts/rootfs.sh); sets ROOTFS.
rootfs_path() {
  local args=()
  [[ -z "${1:-}" ]] || args=(--extra-packages "$1")
  if [[ -z "${1:-}" && -n "${HAPROXY_EDGE_ROOTFS:-}" ]]; then
    ROOTFS="$HAPROXY_EDGE_ROOTFS"
  else
    cached_output rootfs "$LOG_DIR/rootfs${1:+-extra}.log" "$ROOT/scripts/rootfs.sh" "${args[@]}"
    ROOTFS="$OUTPUT"
  fi
  [[ -x "$ROOTFS/usr/sbin/haproxy" && -f "$ROOTFS/var/lib/dpkg/status" ]] || die "not a HAProxy rootfs: '$ROOTFS'"
}

# rootfs_identity DIR: the directory's name and a hash of its installed packages and their versions.
rootfs_identity() {
  printf 'rootfs %s dpkg-status %s\n' "$(basename "$1")" "$(sha <"$1/var/lib/dpkg/status")"
}

# files_identity DIR FILE...: path, mode and content hash of each input file.
files_identity() {
  local dir="$1" f
  shift
  for f in "$@"; do
    [[ -f "$dir/$f" ]] || die "missing input file $dir/$f"
    printf 'file %s %s %s\n' "$f" "$(stat -c %a "$dir/$f")" "$(sha <"$dir/$f")"
  done
}

# --- docker helpers -----------------------------------------------------------

label_of() { # label_of TAG LABEL: the label's value, empty if the image or label is missing
  docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

declare -A RECIPE=() # short name -> recipe hash of the image now under its tag
REPLACED=()          # ids of images this run untagged, removed at the end when unused
BUILT=()

# done_line NAME TAG STATUS (the time counts from IMAGE_START: inputs such as the rootfs included)
done_line() {
  printf '%s %s %ss\n' "$2" "$3" "$(elapsed "$IMAGE_START")"
  if [[ "$3" == built ]]; then BUILT+=("$1"); fi
}

# cached NAME TAG RECIPE: true (and records it) when TAG already carries RECIPE.
cached() {
  if [[ "$(label_of "$2" haproxy-edge.recipe)" == "$3" ]]; then
    RECIPE[$1]="$3"
    return 0
  fi
  local old
  old="$(image_id "$2")"
  if [[ -n "$old" ]]; then REPLACED+=("$old"); fi
  return 1
}

# import_rootfs NAME TAG ROOTFS: docker import of a rootfs directory.
import_rootfs() {
  local name="$1" tag="$2" rootfs="$3" recipe changes logfile
  changes=(
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
    'ENV LANG=C.UTF-8'
    'WORKDIR /'
    'CMD ["/bin/bash"]'
    "LABEL haproxy-edge.image=$name"
  )
  recipe="$({
    printf '%s\n' "$RECIPE_VERSION" "image $name $tag" "import tar --numeric-owner --xattrs --exclude=./dev/*"
    printf 'change %s\n' "${changes[@]}"
    rootfs_identity "$rootfs"
  } | sha)"
  if cached "$name" "$tag" "$recipe"; then
    done_line "$name" "$tag" cached
    return
  fi
  logfile="$LOG_DIR/$name.log"
  : >"$logfile"
  log "importing $rootfs as $tag (log: $logfile)"
  local args=() c
  for c in "${changes[@]}" "LABEL haproxy-edge.recipe=$recipe"; do args+=(--change "$c"); done
  # Device nodes are left out: a container gets its own /dev.
  # shellcheck disable=SC2016 # expanded by the inner bash
  bounded "$logfile" "docker import $tag" bash -o pipefail -c \
    'tar -C "$1" --numeric-owner --xattrs --exclude="./dev/*" -cf - . | docker import "${@:3}" - "$2"' \
    _ "$rootfs" "$tag" "${args[@]}"
  [[ "$(label_of "$tag" haproxy-edge.recipe)" == "$recipe" ]] || die "$tag was imported without its recipe label"
  RECIPE[$name]="$recipe"
  done_line "$name" "$tag" built
}

# build_image NAME TAG PARENT CONTEXT IDENTITY PREPARE: docker build of CONTEXT/Dockerfile.
# IDENTITY is the text of everything else the image is made of (hashed with the Dockerfile and the
# parent's recipe); PREPARE is a function that fills CONTEXT when a build is needed.
build_image() {
  local name="$1" tag="$2" parent="$3" ctx="$4" identity="$5" prepare="$6" recipe logfile
  [[ -n "${RECIPE[$parent]:-}" ]] || die "internal: $name needs $parent first"
  recipe="$({
    printf '%s\n' "$RECIPE_VERSION" "image $name $tag" "parent $parent ${RECIPE[$parent]}"
    printf 'dockerfile %s\n' "$(sha <"$ctx/Dockerfile")"
    printf '%s\n' "$identity"
  } | sha)"
  if cached "$name" "$tag" "$recipe"; then
    done_line "$name" "$tag" cached
    return
  fi
  logfile="$LOG_DIR/$name.log"
  : >"$logfile"
  log "building $tag (log: $logfile)"
  "$prepare" "$ctx" "$logfile"
  bounded "$logfile" "docker build $tag" docker build --network none --pull=false --rm --force-rm \
    --label "haproxy-edge.image=$name" --label "haproxy-edge.recipe=$recipe" -t "$tag" "$ctx"
  [[ "$(label_of "$tag" haproxy-edge.recipe)" == "$recipe" ]] || die "$tag was built without its recipe label"
  RECIPE[$name]="$recipe"
  done_line "$name" "$tag" built
}

# --- the images ---------------------------------------------------------------

WORK=""
cleanup() {
  if [[ -n "$WORK" && -d "$WORK" ]]; then rm -rf -- "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

image_base() {
  rootfs_path
  import_rootfs base haproxy-edge/base:trixie "$ROOTFS"
}

image_certbot_base() {
  rootfs_path "$CERTBOT_PACKAGES"
  import_rootfs certbot-base haproxy-edge/certbot-base:trixie "$ROOTFS"
}

image_haproxy() {
  local ctx="$WORK/haproxy"
  mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM haproxy-edge/base:trixie
# The containers run `/bin/sh <start script>` as root (it seeds the volumes); HAProxy drops to the user
# haproxy itself. Healthchecks use bash's /dev/tcp. The directories are the mount points of components/*.ts.
RUN haproxy -v | grep -q '^HAProxy version 3\.0\.' && id haproxy >/dev/null && bash --version >/dev/null \
 && mkdir -p /usr/local/etc/haproxy/certs /usr/local/etc/haproxy-edge /var/run/haproxy /var/run/haproxy-master
# As the official image: SIGUSR1 = soft stop (finish the open connections; hard-stop-after bounds it).
STOPSIGNAL SIGUSR1
CMD ["haproxy", "-vv"]
EOF
  build_image haproxy haproxy-edge/haproxy:3.0 base "$ctx" "" prepare_nothing
}

image_dataplaneapi() {
  local ctx="$WORK/dataplaneapi" bin identity
  mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM haproxy-edge/base:trixie
# The Data Plane API sidecar: dataplaneapi on PATH, and haproxy (same 3.0 build as the workers) to validate
# configurations. Runs as root via `/bin/sh dataplaneapi-start.sh`, which creates its state directories.
COPY dataplaneapi /usr/local/bin/dataplaneapi
RUN chmod 0755 /usr/local/bin/dataplaneapi && dataplaneapi --version \
 && haproxy -v | grep -q '^HAProxy version 3\.0\.' \
 && mkdir -p /var/lib/dataplaneapi /usr/local/etc/haproxy /usr/local/etc/haproxy-edge /var/run/haproxy-master
CMD ["dataplaneapi", "--version"]
EOF
  cached_output dataplaneapi "$LOG_DIR/dataplaneapi-binary.log" "$ROOT/scripts/dataplaneapi.sh"
  bin="$OUTPUT"
  [[ -x "$bin" ]] || die "scripts/dataplaneapi.sh printed no executable: '$bin'"
  DATAPLANEAPI_BIN="$bin"
  identity="dataplaneapi-binary $(sha <"$bin")"
  build_image dataplaneapi haproxy-edge/dataplaneapi:3.2.7 base "$ctx" "$identity" prepare_dataplaneapi
}
prepare_dataplaneapi() { cp -- "$DATAPLANEAPI_BIN" "$1/dataplaneapi"; }

image_certbot() {
  local ctx="$WORK/certbot"
  mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM haproxy-edge/certbot-base:trixie
# certbot-renew.sh / certbot-deploy-hook.sh need sh, certbot with the dns-rfc2136 plugin, flock, socat,
# mktemp, grep, tr; the healthcheck needs sh. Checked here so a broken rootfs fails the build, not a deploy.
RUN certbot --version && python3 -c 'import certbot_dns_rfc2136' \
 && for c in sh bash flock socat openssl mktemp grep tr basename sleep; do command -v "$c" >/dev/null || exit 1; done \
 && mkdir -p /etc/letsencrypt /var/lib/letsencrypt /var/log/letsencrypt /etc/haproxy-edge/certs /run/haproxy-edge
CMD ["certbot", "--version"]
EOF
  build_image certbot haproxy-edge/certbot:trixie certbot-base "$ctx" "" prepare_nothing
}

image_demo_backend() {
  local ctx="$WORK/demo-backend" src="$ROOT/scripts/demo-backend" identity
  mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<'EOF'
FROM haproxy-edge/base:trixie
# scripts/demo-backend: answers every request with JSON describing it. NAME is required; PORT defaults to 8080.
COPY demo-backend /usr/local/bin/demo-backend
ENV PORT=8080
EXPOSE 8080
HEALTHCHECK --interval=2s --timeout=2s --start-period=10s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${PORT:-8080} && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["/usr/local/bin/demo-backend"]
CMD []
EOF
  GO_BIN="$(find_go)"
  export GOTOOLCHAIN=local
  local files=() go_version
  mapfile -t files < <(cd "$src" && find . -type f -printf '%P\n' | LC_ALL=C sort)
  go_version="$("$GO_BIN" env GOVERSION)"
  identity="$(
    printf '%s\n' "go $go_version" "build CGO_ENABLED=0 -trimpath -ldflags=-s -w"
    files_identity "$src" "${files[@]}"
  )"
  build_image demo-backend haproxy-edge/demo-backend:1 base "$ctx" "$identity" prepare_demo_backend
}
prepare_demo_backend() {
  local src="$ROOT/scripts/demo-backend"
  bounded "$2" "go build scripts/demo-backend" env -C "$src" CGO_ENABLED=0 GOFLAGS=-buildvcs=false \
    "$GO_BIN" build -trimpath -ldflags='-s -w' -o "$1/demo-backend" .
}
prepare_nothing() { :; }

image_acme_lab_base() {
  rootfs_path "$ACME_LAB_PACKAGES"
  import_rootfs acme-lab-base haproxy-edge/acme-lab-base:trixie "$ROOTFS"
}

image_acme_lab() {
  local ctx="$WORK/acme-lab"
  mkdir -p "$ctx"
  cat >"$ctx/Dockerfile" <<'EOF2'
FROM haproxy-edge/acme-lab-base:trixie
# test/system/acme-lab.ts runs pebble and named from this image with their files bind-mounted at /lab; it
# checks readiness with dig and curl.
RUN command -v pebble >/dev/null && named -v && dig -v 2>&1 | grep -q DiG && nsupdate -V >/dev/null 2>&1 \
 && curl --version >/dev/null && openssl version >/dev/null && id bind >/dev/null && mkdir -p /lab
CMD ["pebble", "-version"]
EOF2
  build_image acme-lab haproxy-edge/acme-lab:trixie acme-lab-base "$ctx" "" prepare_nothing
}

# --- main -----------------------------------------------------------------------

# In this order; dataplaneapi last, as the one that needs the Go module proxy (once).
ALL=(base haproxy certbot-base certbot demo-backend acme-lab-base acme-lab dataplaneapi)
declare -A DEPS=([base]="" [haproxy]=base [dataplaneapi]=base [certbot-base]="" [certbot]=certbot-base
  [demo-backend]=base [acme-lab-base]="" [acme-lab]=acme-lab-base)
want=("$@")
if ((${#want[@]} == 0)); then want=("${ALL[@]}"); fi
declare -A SELECTED=()
for w in "${want[@]}"; do
  [[ -v "DEPS[$w]" ]] || die "unknown image '$w' (known: ${ALL[*]})"
  SELECTED[$w]=1
  if [[ -n "${DEPS[$w]}" ]]; then SELECTED[${DEPS[$w]}]=1; fi
done

[[ "$(id -u)" -eq 0 ]] || die "needs root (rootfs builds, docker); run: sudo bash $0"
command -v docker >/dev/null 2>&1 || die "no docker client; run: bash scripts/docker.sh"
timeout 20 docker info >/dev/null 2>&1 || die "the Docker engine does not answer; run: bash scripts/docker.sh"
mkdir -p "$CACHE_DIR" "$LOG_DIR"

# One run at a time on this machine: a concurrent caller waits, then finds everything cached.
exec 9>"${CACHE_DIR%/}/.images.lock"
if ! flock -n 9; then
  log "another scripts/images.sh is running; waiting for it"
  budget
  flock -w "$LEFT" 9 || die "another scripts/images.sh held ${CACHE_DIR%/}/.images.lock for the whole budget"
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/haproxy-edge-images.XXXXXX")"
: >"$LOG_DIR/rootfs.log"
: >"$LOG_DIR/rootfs-extra.log"
: >"$LOG_DIR/dataplaneapi-binary.log"

total_start="$(now)"
for name in "${ALL[@]}"; do
  [[ -n "${SELECTED[$name]:-}" ]] || continue
  IMAGE_START="$(now)"
  "image_${name//-/_}"
done

# Images this run replaced: remove them when nothing (tag, container, child image) uses them any more.
for ((i = ${#REPLACED[@]} - 1; i >= 0; i--)); do
  docker image rm "${REPLACED[i]}" >/dev/null 2>&1 || true
done
log "done in $(elapsed "$total_start") s (${#BUILT[@]} built: ${BUILT[*]:-none})"
