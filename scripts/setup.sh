#!/usr/bin/env bash
# Installs what VServer needs on a fresh Debian host (needs root; skipped when already there)
# and builds the module into output/VServer. Used by scripts/demo.sh, scripts/test.sh and CI.
set -euo pipefail
cd "$(dirname "$0")/.."

# gcc and libc6-dev build the red-team tests' attack programs (tests/attacks)
PACKAGES=(busybox-static runc conmon tini xfsprogs e2fsprogs iproute2 gcc libc6-dev)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v dotnet >/dev/null || { echo "setup: the .NET SDK (dotnet) is required" >&2; exit 1; }
echo "setup: building"
dotnet build VServer.sln -c Release -nologo -v quiet -clp:ErrorsOnly
