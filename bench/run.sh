#!/usr/bin/env bash
# Runs the benchmarks (as root, after scripts/setup.sh). Results go in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dotnet bench/VServer.Bench/bin/Release/net10.0/VServer.Bench.dll "$@"
