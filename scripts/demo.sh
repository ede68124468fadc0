#!/usr/bin/env bash
# The main job until `tether demo` exists: an embedded manager and agent in a temporary directory,
# driven only through the CLIs an operator scripts. Exits non-zero at the first step that misbehaves.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export TETHER_MANAGER_HOME="$work/manager" TETHER_DSA_CORE="$work/ds_agent/dsa_core"
mkdir -p "$work/ds_agent"
tether() { node "$root/bin/run.js" "$@"; }
step() { printf '\n== %s\n' "$*"; }

step "Initialize the manager (its own CA)"
tether manager init --hostname localhost --hostname 127.0.0.1

step "Export the manager certificate the classic way"
(cd "$work" && node "$root/bin/dsm_c" -action exportdsmcert -output ds_agent_dsm.crt)
openssl verify -CAfile "$TETHER_MANAGER_HOME/ca.crt" "$work/ds_agent_dsm.crt"

step "An unactivated agent presents the bootstrap certificate"
tether agent status

step "Bind the agent to this manager (pre-activated)"
tether agent bind "$work/ds_agent_dsm.crt"
tether agent status --json | grep -q '"state": "pre-activated"'

step "Reset clears the binding"
node "$root/bin/dsa_control" -r
tether agent status --json | grep -q '"state": "unactivated"'

printf '\ndemo: every step behaved as expected\n'
