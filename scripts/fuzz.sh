#!/usr/bin/env bash
# Runs every fuzz target of the module, each for FUZZTIME (default 30s).
# `make fuzz` runs it; CI runs it with a few seconds each. Targets are found
# with `go test -list`, so a new Fuzz function is fuzzed without editing
# this file.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-30s}
GO=${GO:-go}
# `go test -list` prints a package's matching names, then "ok  <package>".
targets=()
pending=()
while read -r first second _; do
	case "$first" in
	Fuzz*) pending+=("$first") ;;
	ok) for f in "${pending[@]}"; do targets+=("$second $f"); done; pending=() ;;
	esac
done < <($GO test -list '^Fuzz' ./...)
if [ ${#targets[@]} -eq 0 ]; then
	echo "no fuzz target found" >&2
	exit 1
fi
for t in "${targets[@]}"; do
	read -r pkg target <<<"$t"
	echo "== $target ($pkg, $FUZZTIME)"
	$GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
done
echo "fuzzed ${#targets[@]} targets for $FUZZTIME each"
