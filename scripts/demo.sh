#!/usr/bin/env bash
# The main job: set up (packages, pwsh, build), then, in pwsh, create a demo guest from the host's
# busybox, start it and show it (examples/demo.ps1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. scripts/env.sh
exec pwsh -NoProfile -NonInteractive -File examples/demo.ps1 "$@"
