# PowerShell remoting over SSH, as an administrator fans out to hosts: a second sshd, started by the
# test on 127.0.0.1 with throw-away keys, and two sessions to it. What comes back is deserialized.
BeforeDiscovery {
    $script:CanRun = (id -u) -eq 0 -and (Test-Path /usr/sbin/sshd)
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    Import-Module $StagedManifest -Force
    $PSStyle.OutputRendering = 'PlainText'
    $script:Base = New-TestRoots
    $script:G = New-UniqueName 'rm'
    $script:Sessions = @()
    $script:Sshd = $null
    if (-not ((id -u) -eq 0 -and (Test-Path /usr/sbin/sshd))) { return }

    New-VServerGuest $G -Method Busybox -InitStyle Plain | Out-Null
    Start-VServerGuest $G

    $script:Ssh = Join-Path $Base 'ssh'
    New-Item -ItemType Directory $Ssh | Out-Null
    & ssh-keygen -q -t ed25519 -N '' -f "$Ssh/host" | Out-Null
    & ssh-keygen -q -t ed25519 -N '' -f "$Ssh/client" | Out-Null
    Copy-Item "$Ssh/client.pub" "$Ssh/authorized_keys"
    # a free port on the loopback address
    $listener = [Net.Sockets.TcpListener]::new([Net.IPAddress]::Loopback, 0)
    $listener.Start(); $script:Port = $listener.LocalEndpoint.Port; $listener.Stop()
    $dotnetRoot = Split-Path (& readlink -f (Get-Command dotnet).Source)
    @"
ListenAddress 127.0.0.1
Port $Port
HostKey $Ssh/host
PidFile $Ssh/sshd.pid
AuthorizedKeysFile $Ssh/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
Subsystem powershell /usr/bin/env DOTNET_ROOT=$dotnetRoot $Pwsh -sshs -NoLogo -NoProfile
"@ | Set-Content "$Ssh/sshd_config"
    New-Item -ItemType Directory -Force /run/sshd | Out-Null
    $script:Sshd = Start-Process /usr/sbin/sshd -ArgumentList '-D', '-f', "$Ssh/sshd_config", '-E', "$Ssh/sshd.log" -PassThru
    $deadline = [DateTime]::UtcNow.AddSeconds(10)
    while ([DateTime]::UtcNow -lt $deadline) {
        try { [Net.Sockets.TcpClient]::new('127.0.0.1', $Port).Dispose(); break } catch { Start-Sleep -Milliseconds 100 }
    }
    $options = @{ StrictHostKeyChecking = 'no'; UserKnownHostsFile = '/dev/null'; LogLevel = 'ERROR' }
    $script:Sessions = 1..2 | ForEach-Object {
        New-PSSession -HostName 127.0.0.1 -Port $Port -UserName root -KeyFilePath "$Ssh/client" -Options $options -ErrorAction Stop
    }
    # each session imports the module with this test's roots
    Invoke-Command -Session $Sessions -ScriptBlock {
        $env:VSERVER_CONFIG_ROOT = $using:env:VSERVER_CONFIG_ROOT
        $env:VSERVER_VDIR_ROOT = $using:env:VSERVER_VDIR_ROOT
        $env:VSERVER_RUN_ROOT = $using:env:VSERVER_RUN_ROOT
        $env:VSERVER_CLI = $using:env:VSERVER_CLI
        Import-Module $using:StagedManifest
    }
}

AfterAll {
    if ($Sessions) { $Sessions | Remove-PSSession }
    if ($Sshd) { Stop-Process -Id $Sshd.Id -ErrorAction SilentlyContinue; $Sshd.WaitForExit(5000) | Out-Null }
    Remove-TestRoots $Base
}

Describe 'Remoting over SSH to two sessions' -Skip:(-not $CanRun) {
    It 'Invoke-Command fans out and brings back deserialized contexts and processes that format like live ones' {
        $ctx = Invoke-Command -Session $Sessions -ScriptBlock { Get-VServerContext }
        @($ctx | Where-Object GuestName -EQ $G).Count | Should -Be 2
        ($ctx.PSComputerName | Sort-Object -Unique) | Should -Be '127.0.0.1'
        $ctx[0].PSObject.TypeNames | Should -Contain 'Deserialized.VServer.Context'
        ($ctx | Format-Table | Out-String) | Should -Match "\d+\s+\S+\s+\S+.*$G"

        $procs = Invoke-Command -Session $Sessions[0] -ScriptBlock { Get-VServerProcess $using:G }
        $number = (Get-VServerGuest $G).Context
        ($procs | Format-Table | Out-String) | Should -Match "\s$number $G"
        ($procs | Sort-Object RSS).ResidentMemory -join ',' | Should -Be (($procs.ResidentMemory | Sort-Object) -join ',')
    }

    It 'deserialized contexts piped into Stop-VServerGuest leave the host alone with a warning' {
        $ctx = Invoke-Command -Session $Sessions[0] -ScriptBlock { Get-VServerContext }
        $ctx | Stop-VServerGuest -WhatIf -WarningVariable w -WarningAction SilentlyContinue -ErrorVariable e -ErrorAction SilentlyContinue
        $e | Should -BeNullOrEmpty
        "$w" | Should -Match 'Context 0 is the host'
        (Get-VServerGuest $G).State | Should -Be 'Running'
    }

    It 'a guest command that writes to standard error succeeds remotely too' {
        $r = Invoke-Command -Session $Sessions -ErrorAction Stop -ScriptBlock {
            Invoke-VServerCommand $using:G -ErrorAction Stop -- sh -c 'echo progress >&2; echo done' 6>$null
            $LASTEXITCODE
        }
        # the two sessions run at once: their outputs interleave, each in its own order
        $r | Group-Object RunspaceId | ForEach-Object { ($_.Group | ForEach-Object { "$_" }) -join ',' } | Should -Be @('done,0', 'done,0')
    }
}
