#!/bin/sh
# Drift check with Ansible: run the deploy playbook in check mode, which
# changes nothing, and report each host's drift to gitops-status
# (POST /status/cron). From cron, every 15 minutes:
#
#   */15 * * * *  cd /srv/gitops/rsyslog && git pull -q && GITOPS_STATUS_URL=https://gitops-status.example.com ./drift-check.sh
#
# Extra arguments go to ansible-playbook (-e, --limit …).
set -eu
cd "$(dirname "$0")"
ANSIBLE_STDOUT_CALLBACK=ansible.posix.json \
	ansible-playbook -i inventory.ini deploy.yml --check --diff "$@" |
	gitops-status report cron --from-ansible - --server-group "${SERVER_GROUP:-rsyslog-prod}"
