#!/usr/bin/env bash
# smoke.sh [BASE_URL] — run the README's curl examples (the v2.0 seed's own)
# against a running gitops-status and check the answers. It writes the
# server rsyslog-prod/rsyslog-01, as the examples do.
set -euo pipefail
BASE="${1:-${GITOPS_STATUS_URL:-http://localhost:5000}}"
fail=0
check() { # check NAME BODY PATTERN...: every extended regex must match BODY
	local name=$1 body=$2; shift 2
	for pat in "$@"; do
		if ! grep -Eq -- "$pat" <<<"$body"; then
			echo "FAIL $name: answer does not match $pat"; echo "  $body" | head -c 2000; echo
			fail=1; return
		fi
	done
	echo "ok   $name"
}

out=$(curl -sS -X POST "$BASE/status/pipeline" \
  -H "Content-Type: application/json" \
  -d '{
    "project_name": "gitops-for-servers",
    "repo_name": "rsyslog",
    "server_group": "rsyslog-prod",
    "server_type": "rsyslog",
    "environment": "prod",
    "host": "rsyslog-01",
    "status": "synced",
    "validation_status": "passed",
    "validation_message": "rsyslog syntax validation passed",
    "commit_sha": "abc1234",
    "branch": "master",
    "updated_by": "woodpecker"
  }')
check "pipeline update" "$out" '"status":"synced"' '"commit_sha":"abc1234"' '"validation_status":"passed"' '"last_pipeline_run":"[0-9T:.-]+Z"'

out=$(curl -sS -X POST "$BASE/status/cron" \
  -H "Content-Type: application/json" \
  -d '{
    "server_group": "rsyslog-prod",
    "host": "rsyslog-01",
    "status": "out_of_sync",
    "changed_files": ["/etc/rsyslog.conf", "/etc/rsyslog.d/50-default.conf"]
  }')
check "cron update keeps pipeline fields" "$out" '"status":"out_of_sync"' '"commit_sha":"abc1234"' \
	'"validation_status":"passed"' '"branch":"master"' '"changed_files_count":2' '"last_cron_check":"[0-9T:.-]+Z"'

out=$(curl -sS "$BASE/status")
check "all servers" "$out" '^\[' '"host":"rsyslog-01"' '"changed_files_count":2'

out=$(curl -sS "$BASE/status/rsyslog-prod")
check "server group" "$out" '^\[' '"server_group":"rsyslog-prod"'

out=$(curl -sS "$BASE/status/rsyslog-prod/rsyslog-01")
check "one server" "$out" '^\{' '"host":"rsyslog-01"' '"status":"out_of_sync"' '"drift_status":"out_of_sync"' '"pipeline_status":"synced"'

code=$(curl -sS -o /dev/null -w '%{http_code}' "$BASE/status/rsyslog-prod/no-such-host")
check "unknown server is 404" "$code" '^404$'

exit $fail
