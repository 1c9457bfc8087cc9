#!/usr/bin/env bash
# The main job: set up, build the module, create a demo guest from the host's busybox and show it.
# Runs examples/demo.ps1 under pwsh when it is installed, else under vsh (tools/VServer.Shell),
# the small PowerShell host this repository builds on the PowerShell engine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if command -v pwsh >/dev/null; then
  exec pwsh -NoProfile -File examples/demo.ps1 "$@"
fi
exec dotnet tools/VServer.Shell/bin/Release/net10.0/vsh.dll -File examples/demo.ps1 "$@"
