#!/usr/bin/env bash
# The main job, end to end on the default (netns) backend.
set -euo pipefail
cd "$(dirname "$0")/.."
socklab=.venv/bin/socklab
if $socklab --help 2>/dev/null | grep -q " run "; then
  exec $socklab run --all-shipped
fi
instance=demo-routed
trap '$socklab down $instance >/dev/null 2>&1 || true' EXIT
$socklab up labs/routed --name $instance
$socklab status $instance
echo "==> client -> server across the router"
$socklab exec $instance client -- ping -c 2 -W 1 server
$socklab down $instance
trap - EXIT
