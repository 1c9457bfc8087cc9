# The pipelines a user types in pwsh, as the issue lists them: exit codes and standard error,
# native-style arguments, the host's context piped on, hostile text, smaller behaviours.
BeforeDiscovery {
    $script:IsRoot = (id -u) -eq 0
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    Import-Module $StagedManifest -Force
    $script:Base = New-TestRoots
    $script:G = New-UniqueName 'pp'
    New-VServerGuest $G -Method Busybox -InitStyle Plain | Out-Null
    if ((id -u) -eq 0) { Start-VServerGuest $G }
}

AfterAll {
    Remove-TestRoots $Base
}

Describe 'Invoke-VServerCommand treats the guest command as pwsh treats a native command' -Skip:(-not $IsRoot) {
    It 'standard error does not turn success into failure, even under -ErrorAction Stop' {
        $out = Invoke-VServerCommand $G -ErrorAction Stop -- sh -c 'echo progress >&2; echo done' 6>$null
        $out | Should -Be 'done'
        $? | Should -BeTrue
        $LASTEXITCODE | Should -Be 0
    }

    It 'keeps standard error on the information stream, tagged stderr' {
        $all = Invoke-VServerCommand $G -- sh -c 'echo progress >&2; echo done' 6>&1
        ($all | Where-Object { $_ -is [System.Management.Automation.InformationRecord] }).MessageData.Message | Should -Be 'progress'
        ($all | Where-Object { $_ -is [System.Management.Automation.InformationRecord] }).Tags | Should -Contain 'stderr'
        Invoke-VServerCommand $G -InformationVariable iv -- sh -c 'echo oops >&2' 6>$null
        "$($iv[0].MessageData)" | Should -Be 'oops'
    }

    It 'decides success by the exit code and sets $LASTEXITCODE' {
        { Invoke-VServerCommand $G -ErrorAction Stop -- sh -c 'exit 3' } | Should -Throw -ErrorId 'NonZeroExitCode,VServer.Commands.InvokeVServerCommandCommand'
        Invoke-VServerCommand $G -ErrorAction SilentlyContinue -- sh -c 'exit 5'
        $LASTEXITCODE | Should -Be 5
        (Invoke-VServerCommand $G -AsResult -- sh -c 'echo a; echo b >&2; exit 2').Error | Should -Be 'b'
    }

    It 'passes pid,comm on as one argument (Invoke-VServerCommand web1 -- ps -o pid,comm)' {
        $lines = Invoke-VServerCommand $G -- ps -o pid,comm
        $lines[0] | Should -Match '^\s*PID\s+COMMAND$'
        $lines | Should -Contain '    1 init'
    }
}

Describe 'The host row of Get-VServerContext piped on' -Skip:(-not $IsRoot) {
    It 'Get-VServerContext | Get-VServerProcess skips the host with a warning and lists only guests' {
        $procs = Get-VServerContext | Get-VServerProcess -WarningVariable w -WarningAction SilentlyContinue
        $w.Count | Should -Be 1
        "$w" | Should -Match 'Context 0 is the host'
        $procs | ForEach-Object Context | Sort-Object -Unique | Should -Not -Contain 0
        $procs.GuestName | Should -Contain $G
    }

    It 'deserialized contexts (as remoting returns them) skip the host in Stop- and Restart-VServerGuest' {
        $deserialized = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize((Get-VServerContext)))
        $deserialized[0].PSObject.TypeNames[0] | Should -Be 'Deserialized.VServer.Context'
        $deserialized | Stop-VServerGuest -WhatIf -WarningVariable w -WarningAction SilentlyContinue -ErrorVariable e -ErrorAction SilentlyContinue
        $e | Should -BeNullOrEmpty
        "$w" | Should -Match 'Context 0 is the host'
        $deserialized | Restart-VServerGuest -WhatIf -WarningVariable w2 -WarningAction SilentlyContinue -ErrorVariable e2 -ErrorAction SilentlyContinue
        $e2 | Should -BeNullOrEmpty
        (Get-VServerGuest $G).State | Should -Be 'Running'
    }

    It 'lists contexts by context number, as vserver-stat does' {
        $second = New-UniqueName 'aa' # sorts before $G by name, after it by context
        New-VServerGuest $second -Method Busybox -InitStyle Plain | Out-Null
        Start-VServerGuest $second
        try {
            $ctx = (Get-VServerContext).Context
            $ctx[0] | Should -Be 0
            ($ctx | Sort-Object) -join ',' | Should -Be ($ctx -join ',')
        } finally {
            Stop-VServerGuest $second -Timeout 2
            Remove-VServerGuest $second -Confirm:$false
        }
    }
}

Describe 'Values read from disk are shown sanitized, errors included' {
    It 'a context file holding ESC[2J does not reach the terminal raw' {
        $bad = New-UniqueName 'esc'
        New-VServerGuest $bad -Method Skeleton | Out-Null
        Set-Content -LiteralPath (Join-Path $env:VSERVER_CONFIG_ROOT "$bad/context") -Value "$([char]27)[2J" -NoNewline
        try {
            Get-VServerGuest $bad -ErrorVariable e -ErrorAction SilentlyContinue | Out-Null
            $e.Count | Should -Be 1
            $e[0].Exception.Message | Should -Not -Match ([char]27)
            $e[0].Exception.Message | Should -Match ([regex]::Escape('\e[2J'))
            $e[0].FullyQualifiedErrorId | Should -Match '^InvalidConfiguration'
            # the host's rendering of the error is free of the escape too
            ($e[0] | Out-String) | Should -Not -Match ([char]27 + '\[2J')
        } finally {
            Remove-Item -LiteralPath (Join-Path $env:VSERVER_CONFIG_ROOT "$bad/context")
            Remove-VServerGuest $bad -Confirm:$false
        }
    }
}

Describe 'Smaller behaviours a PowerShell user expects' {
    It 'Test-VServerHost -Check nosuch is an error naming the value and the checks' {
        { Test-VServerHost -Check nosuch -ErrorAction Stop } | Should -Throw -ErrorId 'UnknownCheck,VServer.Commands.TestVServerHostCommand'
        { Test-VServerHost -Check nosuch } | Should -Throw "*'nosuch' names no check*OCI runtime*"
        (Test-VServerHost -Check 'namespace p*').Check | Should -Be 'namespace pid'
    }

    It 'completes -Capability, -Flag, -Signal and -Check' {
        (TabExpansion2 'New-VServerGuest x -Capability NET_R').CompletionMatches.CompletionText | Should -Be 'NET_RAW'
        (TabExpansion2 'Set-VServerGuest x -Capability !CH').CompletionMatches.CompletionText | Should -Be '!CHOWN'
        (TabExpansion2 'New-VServerGuest x -Flag vi').CompletionMatches.CompletionText | Should -Be 'virt_uptime'
        (TabExpansion2 'Stop-VServerProcess x -Signal KI').CompletionMatches.CompletionText | Should -Be 'KILL'
        (TabExpansion2 'Test-VServerHost -Check OCI').CompletionMatches.CompletionText | Should -Be "'OCI runtime'"
        (TabExpansion2 "Start-VServerGuest $($G.Substring(0, 4))").CompletionMatches.CompletionText | Should -Contain $G
    }

    It 'Start-VServerGuest -WhatIf on a running guest says it already runs' -Skip:(-not $IsRoot) {
        $out = Invoke-ChildPwsh -Environment @{ VSERVER_CONFIG_ROOT = $env:VSERVER_CONFIG_ROOT; VSERVER_VDIR_ROOT = $env:VSERVER_VDIR_ROOT; VSERVER_RUN_ROOT = $env:VSERVER_RUN_ROOT } "Import-Module '$StagedManifest'; Start-VServerGuest $G -WhatIf"
        "$out" | Should -Match "What if: Performing the operation `"Start guest \(it is already running: nothing would be done"
    }

    It 'the manifest has release notes and a license, and no placeholder address' {
        $m = Test-ModuleManifest $StagedManifest
        $m.ReleaseNotes | Should -Match 'Security'
        $m.ProjectUri | Should -BeNullOrEmpty
        Join-Path (Split-Path $StagedManifest) 'LICENSE' | Should -Exist
        (Get-Content (Join-Path $RepoRoot 'VServer.psd1') -Raw) | Should -Not -Match 'example\.invalid'
    }

    It 'Get-VServerDiskUsage completes its progress record' {
        # a runspace of its own: a nested pipeline of this one would send progress to the host, not to its stream
        $ps = [powershell]::Create()
        $null = $ps.AddScript("Import-Module '$StagedManifest'; Get-VServerDiskUsage $G")
        $null = $ps.Invoke()
        $ps.Streams.Progress.Count | Should -BeGreaterThan 0
        $ps.Streams.Progress[-1].RecordType | Should -Be 'Completed'
        $ps.Dispose()
    }
}

Describe 'Import-VServerLegacyConfig reads the stable branch''s NAME.conf as data' {
    It 'imports what Get-ChildItem finds, with -WhatIf first, and names a script''s line' {
        $legacy = Join-Path $Base 'legacy'
        New-Item -ItemType Directory -Path $legacy | Out-Null
        Set-Content -LiteralPath "$legacy/ftp.conf" -Value @(
            'IPROOT="192.168.5.32 192.168.5.64"', 'IPROOTDEV=eth0', 'S_HOSTNAME=ftp.nowhe.re', 'ONBOOT=yes',
            'S_DOMAINNAME=', 'S_NICE=5', 'S_FLAGS="lock nproc fakeinit"', 'ULIMIT="-HS -u 200"', 'S_CAPS=""')
        Set-Content -LiteralPath "$legacy/db.conf" -Value @('#!/bin/sh', 'case $PROFILE in', 'prod) S_HOSTNAME=db ;;', 'esac')
        Get-ChildItem "$legacy/*.conf" | Import-VServerLegacyConfig -WhatIf -ErrorVariable e -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
        Get-VServerGuest ftp -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $e[0].FullyQualifiedErrorId | Should -Be 'LegacyConfigRefused,VServer.Commands.ImportVServerLegacyConfigCommand'
        "$($e[0])" | Should -Match 'db\.conf, line 2'

        $g = Get-ChildItem "$legacy/ftp.conf" | Import-VServerLegacyConfig -WarningAction SilentlyContinue
        $g.Name | Should -Be 'ftp'
        $g.Hostname | Should -Be 'ftp.nowhe.re'
        $g.Addresses | Should -Be @('192.168.5.32', '192.168.5.64')
        $g.Nice | Should -Be 5
        "$((Get-VServerGuest ftp).ResourceLimits)" | Should -Be 'nproc=200'
    }
}

Describe 'Invoke-VServerCommand -StandardInput' -Skip:(-not $IsRoot) {
    It 'gives the command its lines and then the end of its input' {
        Invoke-VServerCommand $G -StandardInput 'y', 'n' -- sh -c 'read a; read b; read c || echo "$a$b:eof"' | Should -Be 'yn:eof'
        Invoke-VServerCommand $G -- sh -c 'read a || echo empty' | Should -Be 'empty'
    }
}

Describe 'A guest util-vserver named as VServer would not' -Skip:(-not $IsRoot) {
    It 'is listed with a warning, starts, is seen by vserver status, and is renamed by the vserver command' {
        $odd = "web $(New-UniqueName 'x')"
        $plain = New-UniqueName 'ren'
        New-Item -ItemType Directory -Path (Join-Path $env:VSERVER_CONFIG_ROOT $odd) | Out-Null
        Set-Content -LiteralPath (Join-Path $env:VSERVER_CONFIG_ROOT "$odd/context") -Value '3317'
        New-Item -ItemType Directory -Path (Join-Path $env:VSERVER_CONFIG_ROOT "$odd/apps/init") | Out-Null
        Set-Content -LiteralPath (Join-Path $env:VSERVER_CONFIG_ROOT "$odd/apps/init/style") -Value 'plain'
        Set-Content -LiteralPath (Join-Path $env:VSERVER_CONFIG_ROOT "$odd/netmode") -Value 'none'
        # its root: a copy of the test guest's busybox tree
        & cp -a (Get-VServerGuest $G).Root (Join-Path $env:VSERVER_VDIR_ROOT $odd)

        $g = Get-VServerGuest $odd -WarningVariable w -WarningAction SilentlyContinue
        $g.Name | Should -Be $odd
        "$w" | Should -Match 'Rename-VServerGuest'
        Start-VServerGuest $odd -WarningAction SilentlyContinue
        (& $env:VSERVER_CLI $odd status)[0] | Should -Be "Server $odd is running"
        $LASTEXITCODE | Should -Be 0
        Invoke-VServerCommand $odd -- cat /proc/1/comm | Should -Not -BeNullOrEmpty
        & $env:VSERVER_CLI $odd rename $plain 2>&1 | Out-Null
        $LASTEXITCODE | Should -Be 1  # running: refused
        Stop-VServerGuest $odd -Timeout 0
        & $env:VSERVER_CLI $odd rename $plain | Should -Match "is now '$plain'"
        (Get-VServerGuest $plain).Root | Should -Be (Join-Path $env:VSERVER_VDIR_ROOT $plain)
        Get-VServerGuest $odd -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
    }
}

Describe 'Export-VServerGuest and Import-VServerGuest' -Skip:(-not $IsRoot) {
    It 'writes a running guest only with -Force, and Get-ChildItem | Import-VServerGuest makes a copy that starts' {
        $copy = New-UniqueName 'imp'
        $archive = Join-Path ([IO.Path]::GetTempPath()) "$(New-UniqueName 'exp').tar.gz"
        try {
            Start-VServerGuest $G -WarningAction SilentlyContinue -ErrorAction SilentlyContinue
            Export-VServerGuest $G $archive -ErrorVariable e -ErrorAction SilentlyContinue
            $e[0].FullyQualifiedErrorId | Should -Be 'GuestRunning,VServer.Commands.ExportVServerGuestCommand'
            Test-Path $archive | Should -BeFalse
            $f = Export-VServerGuest $G $archive -Force
            $f.FullName | Should -Be $archive
            $f.Length | Should -BeGreaterThan 0
            (Get-VServerGuest $G).State | Should -Be 'Running'  # thawed, still running

            # ($imported: PowerShell's variable names ignore case, and $G is the test guest's name)
            $imported = Get-ChildItem $archive | Import-VServerGuest -Name $copy -Context 0
            $imported.Name | Should -Be $copy
            $imported.Context | Should -Not -Be (Get-VServerGuest $G).Context
            Start-VServerGuest $copy -WarningAction SilentlyContinue
            Invoke-VServerCommand $copy -- cat /proc/1/comm | Should -Not -BeNullOrEmpty
            & $env:VSERVER_CLI $copy running
            $LASTEXITCODE | Should -Be 0
        }
        finally {
            Stop-VServerGuest $copy -Timeout 0 -ErrorAction SilentlyContinue
            Remove-VServerGuest $copy -Confirm:$false -ErrorAction SilentlyContinue
            Remove-Item -LiteralPath $archive -ErrorAction SilentlyContinue
        }
    }
}
