# Help works for every supported way of importing the module: the repository root's manifest
# (the README's line), the staged folder, and an install from a PSResource repository.
BeforeDiscovery {
    $script:IsRoot = (id -u) -eq 0
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    # what a user checks after an import, printed as key=value lines by a clean pwsh
    $script:HelpProbe = @'
$sw = [Diagnostics.Stopwatch]::StartNew()
$h = Get-Help New-VServerGuest -Full
"synopsis=$($h.Synopsis)"
"examples=$(@($h.Examples.Example).Count)"
"paramtext=$((($h.Parameters.Parameter | Where-Object Name -EQ 'Method').Description | Out-String).Trim().Length)"
"exampletext=$((Get-Help Start-VServerGuest -Examples | Out-String) -match 'Example 1')"
$about = Get-Help about_VServer -ErrorAction SilentlyContinue | Out-String
"about=$($about -match 'util-vserver')"
"seconds=$([int]$sw.Elapsed.TotalSeconds)"
"cmdlets=$((Get-Command -Module VServer).Count)"
'@
    function Get-Probe([string[]]$Lines) {
        $r = @{}
        foreach ($l in $Lines) { if ($l -match '^(\w+)=(.*)$') { $r[$Matches[1]] = $Matches[2] } }
        $r
    }
}

Describe 'Help after Import-Module' {
    It 'from the repository root (Import-Module ./VServer.psd1)' {
        $p = Get-Probe (Invoke-ChildPwsh "Set-Location '$RepoRoot'; Import-Module ./VServer.psd1 -ErrorAction Stop`n$HelpProbe")
        $p.synopsis | Should -Match 'Builds a new guest'
        [int]$p.examples | Should -BeGreaterThan 2
        [int]$p.paramtext | Should -BeGreaterThan 20
        $p.exampletext | Should -Be 'True'
        $p.about | Should -Be 'True'
        [int]$p.seconds | Should -BeLessThan 10
        [int]$p.cmdlets | Should -Be 31
    }

    It 'from the staged folder (output/VServer)' {
        $p = Get-Probe (Invoke-ChildPwsh "Import-Module '$StagedManifest' -ErrorAction Stop`n$HelpProbe")
        $p.synopsis | Should -Match 'Builds a new guest'
        [int]$p.examples | Should -BeGreaterThan 2
        $p.about | Should -Be 'True'
        [int]$p.cmdlets | Should -Be 31
    }
}

Describe 'Published to a local repository and installed from it' {
    BeforeAll {
        $script:Base = Join-Path ([IO.Path]::GetTempPath()) ('vserver-psr-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
        # the XDG folders must exist: .NET reports a missing one as "", and NuGet then writes to the working directory
        New-Item -ItemType Directory -Path "$Base/home/.config", "$Base/home/.local/share", "$Base/home/.cache", "$Base/repo", "$Base/etc", "$Base/vservers" | Out-Null
        # a HOME of its own: the repository registration and the CurrentUser install stay in it
        $script:Env = @{ HOME = "$Base/home"; XDG_DATA_HOME = "$Base/home/.local/share"; XDG_CONFIG_HOME = "$Base/home/.config"; XDG_CACHE_HOME = "$Base/home/.cache"
            VSERVER_CONFIG_ROOT = "$Base/etc"; VSERVER_VDIR_ROOT = "$Base/vservers"; VSERVER_RUN_ROOT = "$Base/run"; VSERVER_CLI = $null }
        $script:Published = Invoke-ChildPwsh -Environment $Env @"
`$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name VServerLocal -Uri '$Base/repo' -Trusted
Publish-PSResource -Path '$RepoRoot/output/VServer' -Repository VServerLocal
Install-PSResource VServer -Repository VServerLocal -TrustRepository
"installed=" + (Get-Module -ListAvailable VServer).ModuleBase
"@
    }
    AfterAll {
        Invoke-ChildPwsh -Environment $Env 'Import-Module VServer; Get-VServerGuest | Where-Object State -EQ Running | Stop-VServerGuest -Timeout 0; Get-VServerGuest | Remove-VServerGuest -Confirm:$false' | Out-Null
        Remove-Item -LiteralPath $Base -Recurse -Force
    }

    It 'Publish-PSResource accepts the staged folder and Install-PSResource installs it' {
        Get-ChildItem "$Base/repo" -Name | Should -Be 'VServer.0.1.0.nupkg'
        Join-Path $RepoRoot 'NuGet' | Should -Not -Exist # nothing of the publish lands in the repository
        (Get-Probe $Published).installed | Should -Be "$Base/home/.local/share/powershell/Modules/VServer/0.1.0" -Because ($Published -join "`n")
    }

    It 'imports by name, with help' {
        $p = Get-Probe (Invoke-ChildPwsh -Environment $Env "Import-Module VServer -ErrorAction Stop`n$HelpProbe")
        $p.synopsis | Should -Match 'Builds a new guest'
        [int]$p.examples | Should -BeGreaterThan 2
        $p.about | Should -Be 'True'
        [int]$p.cmdlets | Should -Be 31
    }

    It 'runs every kind of cmdlet from the install: views, completion, a guest started and stopped' -Skip:(-not $IsRoot) {
        $out = Invoke-ChildPwsh -Environment $Env @'
$ErrorActionPreference = 'Stop'
Import-Module VServer
$PSStyle.OutputRendering = 'PlainText'
New-VServerGuest inst1 -Method Busybox -InitStyle Plain | Out-Null
"table=" + ((Get-VServerGuest | Format-Table | Out-String) -match 'inst1\s+40000\s+Stopped')
"complete=" + ((TabExpansion2 'Start-VServerGuest in').CompletionMatches.CompletionText -join ',')
Start-VServerGuest inst1
"exec=" + (Invoke-VServerCommand inst1 hostname)
"contexts=" + ((Get-VServerContext | Format-Table | Out-String) -match '40000\s+\d+\s+.*inst1')
"procs=" + (@(Get-VServerProcess inst1).Count -ge 1)
"network=" + (@(Get-VServerNetwork inst1 -ExcludeLoopback).Count)
"usage=" + ((Get-VServerDiskUsage inst1).FileCount -gt 0)
"host=" + (@(Test-VServerHost -Check 'OCI runtime').Status)
"hook=" + [bool](Get-Command -CommandType Application vserver -ErrorAction SilentlyContinue) + ',' + ((Get-Item ((Get-Module VServer).ModuleBase + '/vserver')).UnixMode)
Invoke-VServerCommand inst1 reboot
Start-Sleep -Seconds 3
"rebooted=" + (Get-VServerGuest inst1).State
Stop-VServerGuest inst1 -Timeout 5
Remove-VServerGuest inst1 -Confirm:$false
"left=" + @(Get-VServerGuest).Count
'@
        $p = Get-Probe $out
        $p.table | Should -Be 'True' -Because ($out -join "`n")
        $p.complete | Should -Be 'inst1'
        $p.exec | Should -Be 'inst1'
        $p.contexts | Should -Be 'True'
        $p.procs | Should -Be 'True'
        $p.usage | Should -Be 'True'
        $p.host | Should -Be 'Pass'
        # the exit hook conmon calls lost its execute bit in the .nupkg; the module restores it
        $p.hook | Should -Match 'x'
        $p.rebooted | Should -Be 'Running'
        $p.left | Should -Be '0'
    }
}
