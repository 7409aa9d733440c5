#!/usr/bin/env bash
# The main job, end to end on the default (netns) backend: every course lab is brought up,
# its captures started, its scenario run with the reference solution, its captures verified,
# and the report printed. Exit code 0 when every lab passes.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/socklab run --all-shipped --runs-dir "${SOCKLAB_RUNS_DIR:-runs}"
