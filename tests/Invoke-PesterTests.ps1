#!/usr/bin/env pwsh
<#
.SYNOPSIS
    Runs the Pester tests of the user's pipelines (tests/Pester/*.Tests.ps1) in pwsh and writes
    "PASSED FAILED SKIPPED" to -CountFile for scripts/test.sh's summary line.
#>
param(
    [Parameter(Mandatory)][string]$CountFile,
    [string]$ResultFile
)
$ErrorActionPreference = 'Stop'
Import-Module Pester -MinimumVersion 5.9.1
$config = New-PesterConfiguration
$config.Run.Path = Join-Path $PSScriptRoot 'Pester'
$config.Run.PassThru = $true
$config.Output.Verbosity = 'Detailed'
if ($ResultFile) {
    $config.TestResult.Enabled = $true
    $config.TestResult.OutputFormat = 'NUnitXml'
    $config.TestResult.OutputPath = $ResultFile
}
$result = Invoke-Pester -Configuration $config
# a container or block that failed before its tests ran counts as a failure too
$failed = $result.FailedCount + $result.FailedBlocksCount + $result.FailedContainersCount
"$($result.PassedCount) $failed $($result.SkippedCount + $result.NotRunCount)" | Set-Content -LiteralPath $CountFile
