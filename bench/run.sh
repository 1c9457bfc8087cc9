#!/usr/bin/env bash
# Runs a benchmark (as root): bench/run.sh [lifecycle [iterations] [idle-guests] | contexts [guests] [processes-per-guest] [iterations]
#                                          | unify [guests] [tree] [xfs,btrfs] | boot [iterations] [tree] | lxc [iterations] | many [guests] [throttle]
#                                          | userns [iterations] | snapshot [iterations] [tree] [btrfs,xfs]]
# (unify installs duperemove, boot, lxc, many, userns and snapshot install systemd-container and lxc: their baselines;
#  snapshot's tree defaults to the Debian tree the tests cache in /var/tmp/vserver-test-cache).
# Results go in docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${1:-}" = "unify" ] && ! command -v duperemove >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq duperemove >/dev/null
fi
if [ "${1:-}" = "boot" -o "${1:-}" = "lxc" -o "${1:-}" = "many" -o "${1:-}" = "userns" -o "${1:-}" = "snapshot" ] && ! { command -v systemd-nspawn && command -v lxc-start; } >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd-container lxc >/dev/null
fi
dotnet bench/VServer.Bench/bin/Release/net10.0/VServer.Bench.dll "$@"
