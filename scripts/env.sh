# Sourced by the scripts: where pwsh (the PowerShell .NET global tool) and Pester live.
PWSH_VERSION=7.6.9
PESTER_VERSION=5.9.1
export PATH="$HOME/.dotnet/tools:$PATH"
# Pester is restored by the test project (a PackageDownload); its tools/ folder is the module.
PESTER_PACKAGE="${NUGET_PACKAGES:-$HOME/.nuget/packages}/pester/$PESTER_VERSION/tools"
# A module folder for it (gitignored), put first on PSModulePath by the test command.
VSERVER_MODULES="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools/Modules"
