#!/usr/bin/env bash
# Installs what VServer needs on a fresh Debian host (needs root; skipped when already there)
# installs PowerShell 7.6.9 (a .NET global tool) when there is no pwsh 7.4+, builds the module into
# output/VServer and links Pester (restored by the build) into .tools/Modules. Used by
# scripts/demo.sh, scripts/test.sh and CI.
set -euo pipefail
cd "$(dirname "$0")/.."

# gcc and libc6-dev build the red-team tests' attack programs (tests/attacks); openssh-server and
# openssh-client carry the Pester tests' PowerShell remoting over SSH (a test-only sshd on 127.0.0.1);
# debootstrap builds Debian guests (-Method Debootstrap; the reference guest of the tests); xz-utils and
# zstd unpack .tar.xz and .tar.zst guest archives (-Method Archive); lxcfs gives each guest its own
# /proc/meminfo, uptime, load and CPUs (free, uptime and top inside show the guest's limits); nftables
# shields the host from its guests, masquerades their traffic out and stops address spoofing; clang and
# zlib1g-dev link the vserver command, compiled ahead of time (NativeAOT); crun is the OCI runtime
# (runc the fallback); procps and psmisc give vserver vps, vtop and vpstree their ps, top and pstree;
# btrfs-progs makes guest roots subvolumes and clones snapshots on a btrfs guest store
PACKAGES=(busybox-static crun runc conmon clang zlib1g-dev tini xfsprogs e2fsprogs btrfs-progs iproute2 gcc libc6-dev openssh-server openssh-client debootstrap xz-utils zstd lxcfs nftables procps psmisc)
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
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    # packages (openssh-server) must not start services: the tests start their own sshd on 127.0.0.1
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v dotnet >/dev/null || { echo "setup: the .NET SDK (dotnet) is required" >&2; exit 1; }
. scripts/env.sh
# PowerShell 7.4 or later: the one on PATH, else the .NET global tool from NuGet
if ! pwsh -NoProfile -NonInteractive -Command 'if ($PSVersionTable.PSVersion -lt [version]"7.4") { exit 1 }' >/dev/null 2>&1; then
  echo "setup: installing PowerShell $PWSH_VERSION (dotnet tool install --global PowerShell)"
  dotnet tool install --global PowerShell --version "$PWSH_VERSION" >/dev/null \
    || dotnet tool update --global PowerShell --version "$PWSH_VERSION" >/dev/null
fi
echo "setup: building (the test project's restore brings Pester $PESTER_VERSION)"
dotnet build VServer.sln -c Release -nologo -v quiet -clp:ErrorsOnly
[ -f "$PESTER_PACKAGE/Pester.psd1" ] || { echo "setup: Pester $PESTER_VERSION was not restored to $PESTER_PACKAGE" >&2; exit 1; }
mkdir -p "$VSERVER_MODULES"
ln -sfn "$PESTER_PACKAGE" "$VSERVER_MODULES/Pester"
