# Two VServer installations on one host (different VSERVER_*_ROOTs) with a guest of the same name:
# every host-wide name (network namespace, cgroup, host link) is keyed by installation, so
# neither touches the other's guest.
BeforeDiscovery {
    $script:IsRoot = (id -u) -eq 0
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'Common.ps1')
    Import-Module $StagedManifest -Force
    $script:A = New-TestRoots
    $script:B = New-TestRoots
    $script:Bridge = 'vsi' + [guid]::NewGuid().ToString('N').Substring(0, 8)
    function Use-Installation([string]$Base) {
        $env:VSERVER_CONFIG_ROOT = "$Base/etc"
        $env:VSERVER_VDIR_ROOT = "$Base/vservers"
        $env:VSERVER_RUN_ROOT = "$Base/run"
    }
}

AfterAll {
    Use-Installation $A; Remove-TestRoots $A
    Use-Installation $B; Remove-TestRoots $B
    & ip link delete $Bridge 2>$null
}

Describe 'Two installations, one guest name' -Skip:(-not $IsRoot) {
    It 'each runs its own pw1; stopping one leaves the other''s network, cgroup and processes alone' {
        Use-Installation $A
        New-VServerGuest pw1 -Method Busybox -InitStyle Plain -Interface eth0:10.251.7.2/24 -Bridge $Bridge | Out-Null
        Start-VServerGuest pw1
        $nsA = (Get-VServerNetwork pw1 -ExcludeLoopback).Namespace
        $hostLinkA = (Get-VServerNetwork pw1 -ExcludeLoopback).HostName

        Use-Installation $B
        New-VServerGuest pw1 -Method Busybox -InitStyle Plain -Interface eth0:10.251.7.3/24 -Bridge $Bridge | Out-Null
        Start-VServerGuest pw1
        $nsB = (Get-VServerNetwork pw1 -ExcludeLoopback).Namespace
        $nsB | Should -Not -Be $nsA
        (Get-VServerNetwork pw1 -ExcludeLoopback).HostName | Should -Not -Be $hostLinkA
        # each installation sees its own guest only: B's view of contexts holds one pw1
        @(Get-VServerContext | Where-Object Name -EQ pw1).Count | Should -Be 1
        Stop-VServerGuest pw1 -Timeout 2
        "/run/netns/$nsB" | Should -Not -Exist

        Use-Installation $A
        (Get-VServerGuest pw1).State | Should -Be 'Running'
        "/run/netns/$nsA" | Should -Exist
        Invoke-VServerCommand pw1 -- ip -o -4 addr show eth0 | Should -Match '10\.251\.7\.2/24'
        Test-Path "/sys/class/net/$hostLinkA" | Should -BeTrue
        @(Get-VServerProcess pw1).Count | Should -BeGreaterThan 0
        Stop-VServerGuest pw1 -Timeout 2
        "/run/netns/$nsA" | Should -Not -Exist
    }
}
