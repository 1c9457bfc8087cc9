#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Builds VServer (output/VServer, importable with Import-Module ./VServer.psd1) and optionally runs the tests.
.EXAMPLE
    ./build.ps1            # build (Release)
.EXAMPLE
    ./build.ps1 -Test      # build, then run every test (same as scripts/test.sh)
#>
[CmdletBinding()]
param(
    [ValidateSet('Debug', 'Release')][string]$Configuration = 'Release',
    [switch]$Test
)
$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot
if ($Test) {
    # scripts/test.sh installs what is missing, builds, runs the tests and prints the summary line.
    & bash scripts/test.sh
    exit $LASTEXITCODE
}
& dotnet build VServer.sln -c $Configuration -nologo
if ($LASTEXITCODE) { exit $LASTEXITCODE }
Write-Host "Module staged in $PSScriptRoot/output/VServer — Import-Module ./VServer.psd1"
