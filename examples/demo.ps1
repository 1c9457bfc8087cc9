# VServer demo: build a Busybox guest named 'demo' and show it.
# Uses $env:VSERVER_CONFIG_ROOT / VSERVER_VDIR_ROOT when set, else /etc/vservers and /vservers.
param([string]$Name = 'demo')
$ErrorActionPreference = 'Stop'
Import-Module ([IO.Path]::Combine($PSScriptRoot, '..', 'VServer.psd1'))

# Start again from scratch when the demo guest exists from an earlier run.
if (Get-VServerGuest $Name -ErrorAction SilentlyContinue) {
    Remove-VServerGuest $Name -Confirm:$false
}

New-VServerGuest $Name -Hostname "$Name.vserver.test" -Interface eth0:10.200.0.2/24 -MemoryLimit 128MB -ProcessLimit 100 | Out-Null

"== Get-VServerGuest"
Get-VServerGuest

$guest = Get-VServerGuest $Name
"== $Name : config in $($guest.ConfigPath), root in $($guest.Root)"
"context      $($guest.Context)"
"hostname     $($guest.Hostname)"
"addresses    $($guest.Addresses -join ', ')"
"init style   $($guest.InitStyle) (/sbin/init is busybox init)"
"memory       $($guest.MemoryLimit) bytes, processes $($guest.ProcessLimit)"
"capabilities $($guest.BoundingSet -join ' ')"
"== the guest's /etc/hostname: $([IO.File]::ReadAllText([IO.Path]::Combine($guest.Root, 'etc', 'hostname')).Trim())"
