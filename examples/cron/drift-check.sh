#!/bin/sh
# Drift check for cron, in plain POSIX sh: compare the files deployed on this
# host with the git checkout they were deployed from, and report the result
# to gitops-status (POST /status/cron). A drift report never erases what the
# deployment pipeline reported (commit, branch, validation).
#
#   DEPLOYED=/etc/rsyslog.d CHECKOUT=/srv/gitops/rsyslog/rsyslog.d \
#   SERVER_GROUP=rsyslog-prod GITOPS_STATUS_URL=https://gitops-status.example.com \
#   drift-check.sh
#
# crontab, every 15 minutes:
#   */15 * * * * DEPLOYED=/etc/rsyslog.d CHECKOUT=/srv/gitops/rsyslog/rsyslog.d SERVER_GROUP=rsyslog-prod GITOPS_STATUS_URL=https://gitops-status.example.com GITOPS_STATUS_TOKEN_FILE=/etc/gitops-status/token /usr/local/bin/drift-check.sh
#
# Drift is a file of the checkout that is missing or different on the host,
# or a file on the host that the checkout does not have; the reported
# changed_files are the deployed paths, sorted. HOST defaults to this
# machine's name; set GIT_PULL=1 to update the checkout first.
# Exit status: that of gitops-status report (0 stored, 1 refused, 2 unreachable).
set -eu

: "${DEPLOYED:?set DEPLOYED to the deployed directory, e.g. /etc/rsyslog.d}"
: "${CHECKOUT:?set CHECKOUT to the checkout directory it is deployed from}"
: "${SERVER_GROUP:?set SERVER_GROUP, e.g. rsyslog-prod}"
HOST=${HOST:-$(uname -n)}

if [ ! -d "$CHECKOUT" ]; then
	echo "drift-check: checkout $CHECKOUT is not a directory" >&2
	exit 1
fi
if [ -n "${GIT_PULL:-}" ]; then
	git -C "$CHECKOUT" pull --quiet --ff-only
fi

drift=$(mktemp)
trap 'rm -f "$drift"' EXIT

# Missing or different on the host.
(cd "$CHECKOUT" && find . -name .git -prune -o -type f -print) | while IFS= read -r f; do
	f=${f#./}
	cmp -s "$CHECKOUT/$f" "$DEPLOYED/$f" || printf '%s\n' "$DEPLOYED/$f"
done >"$drift"
# On the host only.
if [ -d "$DEPLOYED" ]; then
	(cd "$DEPLOYED" && find . -type f -print) | while IFS= read -r f; do
		f=${f#./}
		[ -e "$CHECKOUT/$f" ] || printf '%s\n' "$DEPLOYED/$f"
	done >>"$drift"
fi
LC_ALL=C sort -o "$drift" "$drift"

status=synced
if [ -s "$drift" ]; then
	status=out_of_sync
fi
gitops-status report cron --server-group "$SERVER_GROUP" --host "$HOST" --status "$status" --changed-files - <"$drift"
