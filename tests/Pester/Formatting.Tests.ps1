# Every output type looks right in pwsh and survives what users do with objects: Format-Table,
# Format-List, Select-Object, Sort-Object by every column a view shows, Export-Csv/Import-Csv
# round trips that pipe back in, ConvertTo-Json, and deserialization (remoting, Import-Clixml).
BeforeDiscovery {
    $script:IsRoot = (id -u) -eq 0
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    Import-Module $StagedManifest -Force
    $PSStyle.OutputRendering = 'PlainText'
    $script:Base = New-TestRoots
    $script:G = New-UniqueName 'fm'
    New-VServerGuest $G -Method Busybox -InitStyle Plain | Out-Null
    if ((id -u) -eq 0) {
        Start-VServerGuest $G
        Invoke-VServerCommand $G -- sh -c 'sleep 1001 > /dev/null 2>&1 &'
        Invoke-VServerCommand $G -- sh -c 'echo console line > /proc/1/fd/1'
    }
    [xml]$formats = Get-Content (Join-Path (Split-Path $StagedManifest) 'VServer.Format.ps1xml') -Raw
    $script:Labels = @{}
    foreach ($v in $formats.Configuration.ViewDefinitions.View) {
        $Labels[$v.ViewSelectedBy.TypeName] = @($v.TableControl.TableHeaders.TableColumnHeader.Label)
    }
    function Get-Sample([string]$TypeName) {
        switch ($TypeName) {
            'VServer.Guest' { Get-VServerGuest }
            'VServer.Context' { Get-VServerContext }
            'VServer.Process' { Get-VServerProcess }
            'VServer.DiskUsage' { Get-VServerDiskUsage $G }
            'VServer.HostCheck' { Test-VServerHost -Check root, 'namespace*' }
            'VServer.GuestInterface' { Get-VServerNetwork $G }
            'VServer.CommandResult' { Invoke-VServerCommand $G -AsResult -- sh -c 'echo out; echo err >&2; exit 1' }
            'VServer.UnifyResult' { [VServer.UnifyResult]::new() }
            'VServer.LogEntry' { Get-VServerLog $G -Tail 1 }
            # the test roots share no extents: a full copy
            'VServer.Snapshot' { Checkpoint-VServerGuest $G -AllowCopy }
            # configured only: no host link is made
            'VServer.Bridge' { Set-VServerBridge ('vsf' + (New-UniqueName '').Substring(0, 6)) -Address 10.217.0.1/24 -Nat -PassThru }
        }
    }
}

AfterAll {
    Remove-TestRoots $Base
}

Describe 'Views' -Skip:(-not $IsRoot) {
    It 'every type the module writes has a table view' {
        $Labels.Keys | Sort-Object | Should -Be @('VServer.Bridge', 'VServer.CommandResult', 'VServer.Context', 'VServer.DiskUsage', 'VServer.Guest',
            'VServer.GuestInterface', 'VServer.HostCheck', 'VServer.LogEntry', 'VServer.Process', 'VServer.Snapshot', 'VServer.UnifyResult')
    }

    It '<_> formats as a table and a list, and every column label is a property' -ForEach @('VServer.Guest', 'VServer.Context',
        'VServer.Process', 'VServer.DiskUsage', 'VServer.HostCheck', 'VServer.GuestInterface', 'VServer.CommandResult', 'VServer.UnifyResult', 'VServer.Bridge', 'VServer.LogEntry', 'VServer.Snapshot') {
        $objects = @(Get-Sample $_)
        $objects.Count | Should -BeGreaterThan 0
        $objects[0].PSObject.TypeNames[0] | Should -Be $_
        $table = $objects | Format-Table | Out-String -Width 400
        foreach ($label in $Labels[$_]) {
            $table | Should -Match ([regex]::Escape($label))
            # a label that is no property makes Sort-Object silently keep the order
            $objects[0].PSObject.Properties[$label] | Should -Not -BeNullOrEmpty -Because "the column '$label' of $_ must be sortable"
            { $objects | Sort-Object $label -ErrorAction Stop } | Should -Not -Throw
        }
        ($objects | Format-List | Out-String).Length | Should -BeGreaterThan 20
        @($objects | Select-Object -First 1 -Property *).Count | Should -Be 1
    }

    It 'Sort-Object by a view label sorts by its value (Get-VServerProcess | Sort-Object RSS)' {
        $sorted = Get-VServerProcess | Sort-Object RSS
        $values = $sorted.ResidentMemory
        ($values | Sort-Object) -join ',' | Should -Be ($values -join ',')
        $byPid = (Get-VServerContext | Sort-Object PROC -Descending).ProcessCount
        ($byPid | Sort-Object -Descending) -join ',' | Should -Be ($byPid -join ',')
    }

    It 'the process view shows CONTEXT for deserialized objects too' {
        $live = Get-VServerProcess $G
        $ctx = (Get-VServerGuest $G).Context
        $deserialized = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($live))
        $deserialized[0].PSObject.TypeNames[0] | Should -Be 'Deserialized.VServer.Process'
        ($deserialized | Format-Table | Out-String) | Should -Match "\s$ctx $G"
        ($deserialized | Format-Table | Out-String) | Should -Be ($live | Format-Table | Out-String)
    }
}

Describe 'CSV and JSON round trips' -Skip:(-not $IsRoot) {
    It '<_> goes through ConvertTo-Json and Export-Csv' -ForEach @('VServer.Guest', 'VServer.Context', 'VServer.Process', 'VServer.DiskUsage', 'VServer.GuestInterface', 'VServer.CommandResult') {
        $objects = @(Get-Sample $_)
        $json = $objects | ConvertTo-Json -Depth 4 -WarningAction SilentlyContinue
        @($json | ConvertFrom-Json).Count | Should -Be $objects.Count
        $csv = Join-Path $Base "$_.csv"
        $objects | Export-Csv -LiteralPath $csv
        @(Import-Csv -LiteralPath $csv).Count | Should -Be $objects.Count
    }

    It 'Import-Csv procs.csv | Stop-VServerProcess signals the guest process it names, and only that one' {
        $csv = Join-Path $Base 'procs.csv'
        Get-VServerProcess $G | Where-Object CommandLine -EQ 'sleep 1001' | Export-Csv -LiteralPath $csv
        @(Import-Csv -LiteralPath $csv).Count | Should -Be 1
        Import-Csv -LiteralPath $csv | Stop-VServerProcess -WhatIf
        @(Get-VServerProcess $G | Where-Object CommandLine -EQ 'sleep 1001').Count | Should -Be 1
        Import-Csv -LiteralPath $csv | Stop-VServerProcess -Signal KILL -PassThru | ForEach-Object CommandLine | Should -Be 'sleep 1001'
        Start-Sleep -Milliseconds 300
        @(Get-VServerProcess $G | Where-Object CommandLine -EQ 'sleep 1001').Count | Should -Be 0
        # the same rows again: the process is gone (its start time no longer matches anything)
        Import-Csv -LiteralPath $csv | Stop-VServerProcess -ErrorVariable e -ErrorAction SilentlyContinue
        $e[0].FullyQualifiedErrorId | Should -Match '^(ProcessNotFound|ProcessNotInGuest)'
    }

    It 'a host process from a CSV is refused' {
        $csv = Join-Path $Base 'host.csv'
        Get-VServerProcess -Context 0 | Where-Object Id -EQ $PID | Export-Csv -LiteralPath $csv
        Import-Csv -LiteralPath $csv | Stop-VServerProcess -ErrorVariable e -ErrorAction SilentlyContinue
        $e[0].FullyQualifiedErrorId | Should -Match '^ProcessNotInGuest'
        Get-Process -Id $PID | Should -Not -BeNullOrEmpty
    }
}
