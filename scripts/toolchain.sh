#!/usr/bin/env bash
# Builds (once, cached by recipe) the Pulumi toolchain this project runs with, for machines that cannot
# install Pulumi the normal way: the Pulumi CLI, the Node.js language host and the docker, command and random
# resource providers, each at the exact version package.json pins. Users with Pulumi's installer need none of
# this (README "Quick start").
#
# Usage:
#   bash scripts/toolchain.sh                   build what is missing, install the providers into the Pulumi
#                                               home (see below); print the bin directory (last stdout line)
#   bash scripts/toolchain.sh --print-path      print the bin directory; build and install nothing
#   bash scripts/toolchain.sh --install-plugins install the built providers into the Pulumi home; build nothing
#
# Where Pulumi looks, and so where this puts each binary (Pulumi warns "using <plugin> from $PATH" for every
# plugin it finds on PATH instead, which would fill every command's output and every preview comment):
# - the bin directory (<repo>/.cache/toolchain/bin) holds only `pulumi`, a link into a cached directory where
#   the plugins Pulumi bundles with its CLI sit next to it, as in its release archives: the Node.js language
#   host and pulumi-resource-pulumi-nodejs (dynamic providers). Put the bin directory first on PATH.
# - the providers go into Pulumi's plugin cache, $PULUMI_HOME/plugins, by default ~/.pulumi/plugins (the home
#   directory of the user database, as Pulumi takes it, not $HOME): where `pulumi up` installs them for users of
#   the normal install. `pulumi plugin install resource <name> <version> --file <binary> --reinstall` puts them
#   there, at package.json's versions; a provider already there byte for byte is left as it is. Set PULUMI_HOME
#   to install into another Pulumi home (the system tier gives each stack its own, test/system/engine.ts).
#
# Sources, per binary: the Go module proxy when it serves the module at that version (the normal source),
# else the archive in ../shared/vendor (HAPROXY_EDGE_VENDOR_DIR), which holds what the proxy here refuses.
# Each binary says which path it took. The docker provider builds only from the vendor archive: its go.mod
# replaces the Terraform provider with pulumi-docker's patched upstream/ tree, which is not a Go module.
#
# Cache: ${HAPROXY_EDGE_CACHE:-/var/cache/haproxy-edge}/toolchain/<name>-<version>-<recipe hash>/, built in a
# temporary directory and renamed into place only when complete, one builder per recipe (flock). Each build
# is bounded by HAPROXY_EDGE_GO_BUILD_TIMEOUT (default 1800 s). Logs go to stderr.
set -euo pipefail
shopt -s inherit_errexit

SCRIPT_VERSION="haproxy-edge-toolchain/1"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${HAPROXY_EDGE_CACHE:-/var/cache/haproxy-edge}"
VENDOR_DIR="${HAPROXY_EDGE_VENDOR_DIR:-$ROOT/../shared/vendor}"
BIN_DIR="$ROOT/.cache/toolchain/bin"
PLUGIN_LINKS="$ROOT/.cache/toolchain/plugins" # resource-<name>-v<version> -> the cached provider (not on PATH)
BUILD_TIMEOUT="${HAPROXY_EDGE_GO_BUILD_TIMEOUT:-1800}"
MIN_GO_MINOR=25

log() { printf 'toolchain.sh: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

MODE=build
case "${1:-}" in
  --print-path)
    printf '%s\n' "$BIN_DIR"
    exit 0
    ;;
  --install-plugins) MODE=install ;;
  "") ;;
  *) die "unknown argument: $1 (usage: toolchain.sh [--print-path | --install-plugins])" ;;
esac

# --- versions: exactly what package.json pins --------------------------------------------------------------
pinned() { # pinned NPM_PACKAGE: its exact version in package.json's dependencies
  local v
  v="$(node -e 'const p=require(process.argv[1]);process.stdout.write((p.dependencies||{})[process.argv[2]]||"")' \
    "$ROOT/package.json" "$1")" || die "cannot read $ROOT/package.json"
  [[ "$v" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "package.json must pin $1 to an exact version, found '$v'"
  printf '%s\n' "$v"
}
PULUMI_VERSION="$(pinned @pulumi/pulumi)"
DOCKER_VERSION="$(pinned @pulumi/docker)"
COMMAND_VERSION="$(pinned @pulumi/command)"
RANDOM_VERSION="$(pinned @pulumi/random)"
declare -A PROVIDER_VERSIONS=([docker]="$DOCKER_VERSION" [command]="$COMMAND_VERSION" [random]="$RANDOM_VERSION")

# --- the providers in Pulumi's plugin cache --------------------------------------------------------------------
# pulumi_home: the Pulumi home the CLI uses: PULUMI_HOME, else ~/.pulumi of the user database's home directory
# (Pulumi asks Go's os/user, which reads /etc/passwd before it falls back to $HOME).
pulumi_home() {
  if [[ -n "${PULUMI_HOME:-}" ]]; then
    printf '%s\n' "$PULUMI_HOME"
    return
  fi
  local home
  home="$(getent passwd "$(id -u)" | cut -d: -f6)" || home=""
  [[ -n "$home" ]] || home="${HOME:-}"
  [[ -n "$home" ]] || die "no home directory for the Pulumi home: set PULUMI_HOME"
  printf '%s/.pulumi\n' "${home%/}"
}

# install_plugins: each provider linked in PLUGIN_LINKS at package.json's version into the Pulumi home's plugin
# cache, unless the same bytes are there already.
install_plugins() {
  local home name version link target
  home="$(pulumi_home)"
  [[ -x "$BIN_DIR/pulumi" ]] || die "no $BIN_DIR/pulumi: build the toolchain first (bash scripts/toolchain.sh)"
  for name in docker command random; do
    version="${PROVIDER_VERSIONS[$name]}"
    link="$PLUGIN_LINKS/resource-$name-v$version"
    target="$home/plugins/resource-$name-v$version/pulumi-resource-$name"
    [[ -x "$link" ]] || die "no $link: build the toolchain first (bash scripts/toolchain.sh)"
    if cmp -s -- "$link" "$target"; then
      log "resource-$name $version: already in $home/plugins"
      continue
    fi
    # --reinstall: without it, any version >= this one already installed counts as installed.
    PULUMI_HOME="$home" PULUMI_SKIP_UPDATE_CHECK=true "$BIN_DIR/pulumi" plugin install resource "$name" \
      "$version" --file "$(readlink -f -- "$link")" --reinstall --non-interactive </dev/null >&2 ||
      die "pulumi plugin install resource $name $version failed"
    cmp -s -- "$link" "$target" || die "pulumi plugin install left no copy of $link at $target"
    log "resource-$name $version: installed into $home/plugins (Pulumi's plugin cache)"
  done
}

if [[ "$MODE" == install ]]; then
  install_plugins
  exit 0
fi

# --- Go --------------------------------------------------------------------------------------------------------
GO_BIN="${GO:-}"
if [[ -z "$GO_BIN" ]]; then
  GO_BIN="$(command -v go || true)"
  [[ -n "$GO_BIN" ]] || GO_BIN=/usr/local/go/bin/go
fi
[[ -x "$GO_BIN" ]] || die "Go not found (looked at \$GO, PATH and /usr/local/go/bin/go); Go >= 1.${MIN_GO_MINOR} is needed"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false CGO_ENABLED=0
GO_VERSION="$("$GO_BIN" env GOVERSION)" || die "$GO_BIN env GOVERSION failed"
if [[ ! "$GO_VERSION" =~ ^go1\.([0-9]+) ]] || ((BASH_REMATCH[1] < MIN_GO_MINOR)); then
  die "$GO_BIN is $GO_VERSION; the Pulumi ${PULUMI_VERSION} toolchain needs Go >= 1.${MIN_GO_MINOR}"
fi
if [[ -z "${HOME:-}" ]]; then # no default build/module cache without HOME (some CI shells)
  export GOCACHE="${GOCACHE:-${CACHE_DIR%/}/go-build}" GOMODCACHE="${GOMODCACHE:-${CACHE_DIR%/}/go-mod}"
fi

sha() { sha256sum | cut -d' ' -f1; }

# proxy_dir MODULE VERSION: prints the module's directory in the module cache when the proxy serves it;
# prints nothing when the proxy refuses it (403/404/410); dies on any other failure (e.g. no network).
proxy_dir() {
  local out status=0
  out="$(timeout 300 "$GO_BIN" mod download -json "$1@$2" 2>&1)" || status=$?
  if ((status == 0)); then
    node -e 'const j=JSON.parse(process.argv[1]);if(!j.Dir)process.exit(1);process.stdout.write(j.Dir)' "$out" ||
      die "go mod download $1@$2 gave no directory: $out"
    return
  fi
  # 403/404/410 from the proxy; "invalid version" when GOPROXY's ",direct" fallback could not reach the origin.
  if grep -qE '(403|404|410)|not available|not found|unknown revision|invalid version' <<<"$out"; then
    log "the Go module proxy does not serve $1@$2: $(grep -m1 -oE '(403|404|410|invalid version)[^\\"]*' <<<"$out" || printf 'not served')"
    return
  fi
  die "go mod download $1@$2 failed (exit $status): $out"
}

# vendor_archive FILE: checks a vendor archive exists and prints its path.
vendor_archive() {
  local f="$VENDOR_DIR/$1"
  [[ -f "$f" ]] || die "the Go module proxy refuses this module and $f is missing (set HAPROXY_EDGE_VENDOR_DIR)"
  printf '%s\n' "$f"
}

# run_bounded LOGFILE WHAT CMD...: runs CMD within BUILD_TIMEOUT, output to LOGFILE; dies with its tail.
run_bounded() {
  local logfile="$1" what="$2" status=0
  shift 2
  timeout "$BUILD_TIMEOUT" "$@" >>"$logfile" 2>&1 </dev/null || status=$?
  if ((status)); then
    log "last lines of $logfile:"
    tail -n 30 "$logfile" >&2 || true
    ((status != 124)) || die "$what did not finish within ${BUILD_TIMEOUT} s (HAPROXY_EDGE_GO_BUILD_TIMEOUT)"
    die "$what failed (exit status $status)"
  fi
}

# cached_build NAME VERSION BINARY SOURCE_ID BUILDER: the cached binary's path in RESULT; BUILDER TMPDIR LOG
# is called (in the cache lock) to build it into TMPDIR/BINARY when the recipe has no complete build yet.
cached_build() {
  local name="$1" version="$2" binary="$3" source_id="$4" builder="$5" hash dir tmp logfile start
  hash="$(printf '%s\n' "$SCRIPT_VERSION" "$name" "$version" "$source_id" "$GO_VERSION" "CGO_ENABLED=0 -trimpath" | sha)"
  dir="${CACHE_DIR%/}/toolchain/${name}-${version}-${hash:0:12}"
  RESULT="$dir/$binary"
  if [[ -x "$RESULT" ]]; then
    log "$name $version: reusing $RESULT ($(cat "$dir/SOURCE"))"
    return
  fi
  mkdir -p "${CACHE_DIR%/}/toolchain"
  exec 8>"$dir.lock"
  flock 8
  if [[ -x "$RESULT" ]]; then
    log "$name $version: reusing $RESULT (built concurrently)"
    exec 8>&-
    return
  fi
  rm -rf -- "$dir.tmp."*
  tmp="$(mktemp -d "$dir.tmp.XXXXXX")"
  logfile="$tmp.log"
  : >"$logfile"
  log "$name $version: building from $source_id (log: $logfile)"
  start=$SECONDS
  (cd "$tmp" && "$builder" "$tmp" "$logfile")
  [[ -x "$tmp/$binary" ]] || die "$name: the build produced no $binary"
  printf '%s\n' "$source_id" >"$tmp/SOURCE"
  chmod 0755 "$tmp"
  mv -T -- "$tmp" "$dir"
  rm -f -- "$logfile"
  exec 8>&-
  log "$name $version: built in $((SECONDS - start)) s"
}

# extract ARCHIVE DEST: unpacks a vendor archive (one top-level folder) into DEST/src.
extract() {
  mkdir -p "$2/src"
  tar -xzf "$1" -C "$2/src" --strip-components=1
}

# --- the Pulumi CLI: always from the module proxy (it serves github.com/pulumi/pulumi/pkg/v3) -------------------
build_cli() {
  local tmp="$1" logfile="$2" mod="$1/mod"
  mkdir -p "$mod"
  run_bounded "$logfile" "go mod init" env -C "$mod" "$GO_BIN" mod init haproxy-edge.local/pulumi-cli
  run_bounded "$logfile" "go get pulumi/pkg/v3@v$PULUMI_VERSION" \
    env -C "$mod" "$GO_BIN" get "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION"
  run_bounded "$logfile" "go build pulumi" env -C "$mod" "$GO_BIN" build -mod=mod -trimpath -o "$tmp/pulumi" \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  rm -rf -- "$mod"
}

# --- the Node.js language host ---------------------------------------------------------------------------------
LANG_MODULE="github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3"
build_language_host() {
  local tmp="$1" logfile="$2" src="$1/src"
  if [[ -n "$LANG_SRC" ]]; then
    mkdir -p "$src" && cp -R "$LANG_SRC/." "$src" && chmod -R u+w "$src"
  else
    extract "$(vendor_archive "pulumi-language-nodejs-v${PULUMI_VERSION}.tar.gz")" "$tmp"
  fi
  # Upstream builds it inside the pulumi repository (replace … => ../../..); here the released modules.
  run_bounded "$logfile" "go mod edit" env -C "$src" "$GO_BIN" mod edit \
    -dropreplace github.com/pulumi/pulumi/pkg/v3 -dropreplace github.com/pulumi/pulumi/sdk/v3 \
    -require "github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" -require "github.com/pulumi/pulumi/sdk/v3@v$PULUMI_VERSION"
  run_bounded "$logfile" "go build pulumi-language-nodejs" env -C "$src" "$GO_BIN" build -mod=mod -trimpath \
    -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION" \
    -o "$tmp/pulumi-language-nodejs" .
  rm -rf -- "$src"
}

# --- the resource providers ------------------------------------------------------------------------------------
# provider_build TMP LOG NAME VERSION VERSION_PKG TAGS: builds provider/cmd/pulumi-resource-NAME from TMP/src.
provider_build() {
  local tmp="$1" logfile="$2" name="$3" version="$4" version_pkg="$5" tags="$6" src="$1/src/provider"
  [[ -d "$src" ]] || src="$1/src" # a module from the proxy is the provider folder itself
  if grep -q 'go:generate' "$src/cmd/pulumi-resource-$name/main.go"; then
    run_bounded "$logfile" "go generate ($name)" env -C "$src" VERSION="$version" "$GO_BIN" generate \
      "./cmd/pulumi-resource-$name"
  fi
  run_bounded "$logfile" "go build pulumi-resource-$name" env -C "$src" "$GO_BIN" build -mod=mod -trimpath \
    ${tags:+-tags "$tags"} -ldflags "-X $version_pkg.Version=$version" -o "$tmp/pulumi-resource-$name" \
    "./cmd/pulumi-resource-$name"
  rm -rf -- "$1/src"
}
# provider_source NAME MODULE VERSION ARCHIVE: sets PROVIDER_SRC (module dir, or empty) and SOURCE_ID.
provider_source() {
  PROVIDER_SRC=""
  if [[ -n "$2" ]]; then PROVIDER_SRC="$(proxy_dir "$2" "v$3")"; fi
  if [[ -n "$PROVIDER_SRC" ]]; then
    SOURCE_ID="Go module proxy $2@v$3"
  else
    local archive
    archive="$(vendor_archive "$4")"
    SOURCE_ID="vendor $(basename "$archive") sha256:$(sha <"$archive")"
    PROVIDER_ARCHIVE="$archive"
  fi
}
fill_provider_src() {
  if [[ -n "$PROVIDER_SRC" ]]; then
    mkdir -p "$1/src" && cp -R "$PROVIDER_SRC/." "$1/src" && chmod -R u+w "$1/src"
  else
    extract "$PROVIDER_ARCHIVE" "$1"
  fi
}
build_command() {
  fill_provider_src "$1"
  provider_build "$1" "$2" command "$COMMAND_VERSION" github.com/pulumi/pulumi-command/provider/pkg/version ""
}
build_random() {
  fill_provider_src "$1"
  provider_build "$1" "$2" random "$RANDOM_VERSION" github.com/pulumi/pulumi-random/provider/v4/pkg/version ""
}
build_docker() {
  fill_provider_src "$1"
  provider_build "$1" "$2" docker "$DOCKER_VERSION" github.com/pulumi/pulumi-docker/provider/v5/pkg/version no_compose
}

# --- main ------------------------------------------------------------------------------------------------------
mkdir -p "$CACHE_DIR"
declare -A PATHS=()

cached_build pulumi "$PULUMI_VERSION" pulumi "Go module proxy github.com/pulumi/pulumi/pkg/v3@v$PULUMI_VERSION" build_cli
PATHS[pulumi]="$RESULT"

LANG_SRC="$(proxy_dir "$LANG_MODULE" "v$PULUMI_VERSION")"
if [[ -n "$LANG_SRC" ]]; then
  lang_id="Go module proxy $LANG_MODULE@v$PULUMI_VERSION"
else
  archive="$(vendor_archive "pulumi-language-nodejs-v${PULUMI_VERSION}.tar.gz")"
  lang_id="vendor $(basename "$archive") sha256:$(sha <"$archive")"
fi
cached_build language-nodejs "$PULUMI_VERSION" pulumi-language-nodejs "$lang_id" build_language_host
PATHS[pulumi-language-nodejs]="$RESULT"

provider_source command github.com/pulumi/pulumi-command/provider "$COMMAND_VERSION" \
  "pulumi-command-v${COMMAND_VERSION}.tar.gz"
cached_build resource-command "$COMMAND_VERSION" pulumi-resource-command "$SOURCE_ID" build_command
PATHS[pulumi-resource-command]="$RESULT"

# The vendor archives of random and docker are main-branch commits right after the previous release (only
# dependency bumps since), built as the version package.json pins; see ../shared/vendor/README.md.
[[ "$RANDOM_VERSION" == 4.21.2 ]] || log "warning: the vendor random archive is built as 4.21.2, not $RANDOM_VERSION"
provider_source random github.com/pulumi/pulumi-random/provider/v4 "$RANDOM_VERSION" "pulumi-random-f64d8726a4f5.tar.gz"
cached_build resource-random "$RANDOM_VERSION" pulumi-resource-random "$SOURCE_ID" build_random
PATHS[pulumi-resource-random]="$RESULT"

[[ "$DOCKER_VERSION" == 5.2.0 ]] || log "warning: the vendor docker archive is built as 5.2.0, not $DOCKER_VERSION"
provider_source docker "" "$DOCKER_VERSION" "pulumi-docker-237b7899bb51.tar.gz"
cached_build resource-docker "$DOCKER_VERSION" pulumi-resource-docker "$SOURCE_ID" build_docker
PATHS[pulumi-resource-docker]="$RESULT"

# --- the CLI with the plugins Pulumi bundles next to it ---------------------------------------------------------
# Pulumi finds its bundled plugins next to its executable (symlinks resolved). The Node.js language host and
# pulumi-resource-pulumi-nodejs are placed there, as in Pulumi's release archives: hard links to the cached
# binaries (copies across file systems) and the dynamic-provider launcher, upstream's
# sdk/nodejs/dist/pulumi-resource-pulumi-nodejs (the same file as node_modules/@pulumi/pulumi's, checked by
# test/scripts/toolchain.test.ts; node_modules may not be installed yet here).
NODEJS_DYNAMIC_PROVIDER="$(
  cat <<'LAUNCHER'
#!/bin/sh
PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH=$(node -e "console.log(require.resolve('@pulumi/pulumi/cmd/dynamic-provider'))")
if [ ! -z "$PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH" ]; then
    node "$PULUMI_DYNAMIC_PROVIDER_SCRIPT_PATH" $@
fi
LAUNCHER
)"
build_cli_dir() {
  local tmp="$1" f
  for f in pulumi pulumi-language-nodejs; do
    ln -- "${PATHS[$f]}" "$tmp/$f" 2>/dev/null || cp -- "${PATHS[$f]}" "$tmp/$f"
  done
  printf '%s\n' "$NODEJS_DYNAMIC_PROVIDER" >"$tmp/pulumi-resource-pulumi-nodejs"
  chmod 0755 "$tmp/pulumi-resource-pulumi-nodejs"
}
cli_id="$(dirname "${PATHS[pulumi]}") $(dirname "${PATHS[pulumi-language-nodejs]}")"
cli_id+=" launcher sha256:$(sha <<<"$NODEJS_DYNAMIC_PROVIDER")"
cached_build pulumi-with-plugins "$PULUMI_VERSION" pulumi "$cli_id" build_cli_dir

# The bin directory: only pulumi, its link replaced atomically. Links a previous version of this script put there
# (the language host, the providers) are removed: Pulumi would use them, warning, instead of the plugin cache.
mkdir -p "$BIN_DIR" "$PLUGIN_LINKS"
link() { # link TARGET LINK: through a hidden temporary link
  local tmp="${2%/*}/.${2##*/}.new"
  ln -sfn -- "$1" "$tmp" && mv -Tf -- "$tmp" "$2"
}
link "$RESULT" "$BIN_DIR/pulumi"
rm -f -- "$BIN_DIR"/pulumi-*
for name in docker command random; do
  link "${PATHS[pulumi-resource-$name]}" "$PLUGIN_LINKS/resource-$name-v${PROVIDER_VERSIONS[$name]}"
done
version="$("$BIN_DIR/pulumi" version)"
[[ "$version" == "v$PULUMI_VERSION" ]] || die "$BIN_DIR/pulumi reports '$version', expected v$PULUMI_VERSION"
install_plugins
log "ready: $BIN_DIR (pulumi $version)"
printf '%s\n' "$BIN_DIR"
