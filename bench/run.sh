#!/usr/bin/env bash
# Runs a benchmark (as root): bench/run.sh [lifecycle [iterations] [idle-guests] | contexts [guests] [processes-per-guest] [iterations]].
# Results go in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
dotnet bench/VServer.Bench/bin/Release/net10.0/VServer.Bench.dll "$@"
