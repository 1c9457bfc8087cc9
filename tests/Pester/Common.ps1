# Dot-sourced by every tests/Pester/*.Tests.ps1 (in BeforeAll): paths, roots of its own per test
# file, and child pwsh sessions for what must start clean (imports, remoting).
$script:RepoRoot = (Resolve-Path (Join-Path $PSScriptRoot '../..')).Path
$script:StagedManifest = Join-Path $RepoRoot 'output/VServer/VServer.psd1'
$script:RootManifest = Join-Path $RepoRoot 'VServer.psd1'
# the pwsh on PATH (the .NET tool runs as dotnet, so this process's own path is not pwsh)
$script:Pwsh = (Get-Command pwsh -CommandType Application -ErrorAction Stop | Select-Object -First 1).Source

function New-TestRoots {
    <# Fresh config, vdir and run roots for this test file; the module reads them from the environment. #>
    $base = Join-Path ([IO.Path]::GetTempPath()) ('vserver-pester-' + [guid]::NewGuid().ToString('N').Substring(0, 10))
    New-Item -ItemType Directory -Path "$base/etc", "$base/vservers" | Out-Null
    $env:VSERVER_CONFIG_ROOT = "$base/etc"
    $env:VSERVER_VDIR_ROOT = "$base/vservers"
    $env:VSERVER_RUN_ROOT = "$base/run"
    $env:VSERVER_CLI = Join-Path $RepoRoot 'output/VServer/vserver'
    $base
}

function Remove-TestRoots([string]$Base) {
    <# Stops and removes every guest of these roots, then the roots: nothing is left on the host. #>
    if (Get-Command Get-VServerGuest -ErrorAction SilentlyContinue) {
        Get-VServerGuest -ErrorAction SilentlyContinue | Where-Object State -EQ Running | Stop-VServerGuest -Timeout 0 -ErrorAction SilentlyContinue
        Get-VServerSnapshot -ErrorAction SilentlyContinue | Remove-VServerSnapshot -Confirm:$false -ErrorAction SilentlyContinue
        Get-VServerGuest -ErrorAction SilentlyContinue | Remove-VServerGuest -Confirm:$false -ErrorAction SilentlyContinue
    }
    if ($Base -and (Test-Path -LiteralPath $Base)) { Remove-Item -LiteralPath $Base -Recurse -Force }
    foreach ($v in 'VSERVER_CONFIG_ROOT', 'VSERVER_VDIR_ROOT', 'VSERVER_RUN_ROOT', 'VSERVER_CLI') {
        Remove-Item "env:$v" -ErrorAction SilentlyContinue
    }
}

function New-UniqueName([string]$Prefix) { $Prefix + [guid]::NewGuid().ToString('N').Substring(0, 6) }

function Invoke-ChildPwsh {
    <# Runs a script in a new pwsh (no profile) and returns its output lines; stderr is returned too. #>
    param([Parameter(Mandatory)][string]$Script, [hashtable]$Environment = @{}, [string]$WorkingDirectory = [IO.Path]::GetTempPath())
    $saved = @{}
    foreach ($k in $Environment.Keys) { $saved[$k] = [Environment]::GetEnvironmentVariable($k); [Environment]::SetEnvironmentVariable($k, $Environment[$k]) }
    try {
        $encoded = [Convert]::ToBase64String([Text.Encoding]::Unicode.GetBytes($Script))
        # the child's process working directory is this location: never the repository, where
        # tools that fall back to relative paths (NuGet's config) would write
        Push-Location -LiteralPath $WorkingDirectory
        try {
            & $script:Pwsh -NoProfile -NonInteractive -EncodedCommand $encoded 2>&1 | ForEach-Object { "$_" }
        } finally {
            Pop-Location
        }
    } finally {
        foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) }
    }
}
