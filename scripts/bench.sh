#!/usr/bin/env bash
# Measures what Tollgate costs against a direct connection: builds the
# tollgate binary and the benchmark tool (internal/bench/benchcmd: an echo MCP
# server and a load client), then runs every scenario straight to the echo
# server, through Tollgate and (for the rows marked floor) through a bare
# relay that only copies messages, interleaved and repeated, and prints a
# Markdown table of medians (also written under bench-results/). See
# docs/performance.md.
#
#   bash scripts/bench.sh                 full run: 3 rounds, under 5 minutes on 2 cores
#   bash scripts/bench.sh --smoke         one short round (~20 s): fails only if a call
#                                         fails or gets a wrong answer, never on timing
#   bash scripts/bench.sh -run 'SQLite'   only matching scenarios (any benchcmd run flag)
#   bash scripts/bench.sh -profile DIR    CPU profiles of the proxied stdio runs
#                                         (in-process proxy), for go tool pprof
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

BIN=$(mktemp -d "${TMPDIR:-/tmp}/tollgate-bench-bin.XXXXXX")
trap 'rm -rf "$BIN"' EXIT

# The binary as it ships: static, without cgo (a machine with a C compiler
# would otherwise link libc, which costs start-up time and memory).
CGO_ENABLED=0 go build -o "$BIN/tollgate" ./cmd/tollgate
CGO_ENABLED=0 go build -o "$BIN/benchcmd" ./internal/bench/benchcmd
CGO_ENABLED=0 go build -o "$BIN/relay" ./internal/bench/relaycmd

mode=full
for a in "$@"; do
	[[ $a == --smoke || $a == -smoke ]] && mode=smoke
done
mkdir -p bench-results
out=bench-results/bench-$mode-$(date -u +%Y%m%dT%H%M%SZ).md

"$BIN/benchcmd" run -tollgate "$BIN/tollgate" -relay "$BIN/relay" \
	-fixture "$ROOT/testdata/fusionauth-tools.json" \
	-out "$out" "$@"
cp "$out" "bench-results/latest-$mode.md"
