#!/bin/sh
# The v1 rsyslog flow, unchanged: what rsyslog pipelines posted to the v1
# service, and still may. gitops-status stores it as a pipeline report of
# server rsyslog-lab in group rsyslog (or --legacy-group), and answers with
# the v1 view; GET /api/status reads it back.
set -eu

curl -X POST http://localhost:5000/api/status \
  -H "Content-Type: application/json" \
  -d '{
    "repo": "rsyslog",
    "server": "rsyslog-lab",
    "sync_status": "SYNCED",
    "drift_count": 0,
    "deployed_files": [],
    "drifted_files": [],
    "last_check": "2026-04-26T00:00:00Z"
  }'

curl http://localhost:5000/api/status
