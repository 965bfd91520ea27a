#!/usr/bin/env bash
# govulncheck ./... against a vulnerability database built locally: the
# public database cannot be reached from our machines, but the Go module
# proxy serves golang.org/x/vulndb, whose data/osv holds every report, and
# its cmd/indexdb writes the database layout `govulncheck -db file://`
# reads (index/db.json, index/modules.json, index/vulns.json, ID/*.json).
# The database is built once per vulndb version and cached.
#
# Fails when the code calls a vulnerable function that
# .ci/vulncheck-accepted.txt does not accept with a reason
# (internal/tools/vulnreport decides and prints one line per finding).
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
GOVULNCHECK_VERSION=${GOVULNCHECK_VERSION:-v1.9.0}
VULNDB_VERSION=${VULNDB_VERSION:-v0.0.0-20261105234957-e22db6528018}
cache=${VULNDB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-status}
db=$cache/vulndb-$VULNDB_VERSION
mkdir -p "$cache"
if [ ! -f "$db/index/db.json" ]; then
	echo "building the vulnerability database from golang.org/x/vulndb@$VULNDB_VERSION into $db"
	src=$($GO mod download -json "golang.org/x/vulndb@$VULNDB_VERSION" | grep '"Dir":' | cut -d'"' -f4)
	[ -d "$src/data/osv" ] || { echo "golang.org/x/vulndb@$VULNDB_VERSION has no data/osv" >&2; exit 1; }
	tmp=$(mktemp -d "$cache/vulndb-build.XXXXXX")
	trap 'rm -rf "$tmp"' EXIT
	$GO run "golang.org/x/vulndb/cmd/indexdb@$VULNDB_VERSION" -vulns "$src/data/osv" -out "$tmp/db"
	rm -rf "$db"
	mv "$tmp/db" "$db"
fi
$GO run "golang.org/x/vuln/cmd/govulncheck@$GOVULNCHECK_VERSION" -db "file://$db" -format json ./... |
	$GO run ./internal/tools/vulnreport -accept .ci/vulncheck-accepted.txt
