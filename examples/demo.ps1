# VServer demo: build a Busybox guest named 'demo', start it, run a command in it and show it
# and its context (vserver-stat, vps).
# Set VSERVER_DEMO_STOP=1 to stop the guest at the end, and VSERVER_DEMO_REMOVE=1 to remove it then (CI does both).
# Uses $env:VSERVER_CONFIG_ROOT / VSERVER_VDIR_ROOT when set, else /etc/vservers and /vservers.
param([string]$Name = 'demo')
$ErrorActionPreference = 'Stop'
if ([Console]::IsOutputRedirected) { $PSStyle.OutputRendering = 'PlainText' } # a log, not a terminal
Import-Module ([IO.Path]::Combine($PSScriptRoot, '..', 'VServer.psd1'))

# Start again from scratch when the demo guest exists from an earlier run.
if (Get-VServerGuest $Name -ErrorAction SilentlyContinue) {
    Get-VServerGuest $Name | Where-Object State -eq Running | Stop-VServerGuest -Timeout 5
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

try {
    "== Start-VServerGuest $Name"
    Start-VServerGuest $Name -PassThru

    "== Invoke-VServerCommand $Name -- ps (inside the guest: its own pid 1, nothing of the host)"
    Invoke-VServerCommand $Name -- ps -o pid,user,comm
    "== hostname inside: $(Invoke-VServerCommand $Name hostname)"
    "== eth0 inside (a veth on the host bridge $($guest.Bridge)): $(Invoke-VServerCommand $Name -- ip -o -4 addr show eth0)"
    "== capabilities inside: $(Invoke-VServerCommand $Name -- grep CapBnd /proc/self/status)"
    "== memory inside (its 128 MB limit, through lxcfs): $(Invoke-VServerCommand $Name -- head -1 /proc/meminfo)"

    $guest = Get-VServerGuest $Name
    "== $Name is $($guest.State): init is host pid $($guest.InitPid), $($guest.ProcessCount) process(es), started $($guest.StartTime)"
    if ($guest.PrivateUsers) {
        "== private users: root inside is host uid $($guest.UserRange.First) (its range $($guest.UserRange)); uid_map inside: $((Invoke-VServerCommand $Name -- cat /proc/self/uid_map) -replace '\s+', ' ')"
    }

    "== Get-VServerContext (vserver-stat; context 0 is the host, 'root server')"
    Get-VServerContext | Out-Default
    "== Get-VServerProcess $Name (vps: host pid, context, the pid inside the guest)"
    Get-VServerProcess $Name | Out-Default
    $netns = (Get-VServerNetwork $Name -ExcludeLoopback)[0].Namespace
    "== Get-VServerNetwork $Name (its network namespace is $netns; try: ip netns exec $netns ip addr)"
    Get-VServerNetwork $Name -ExcludeLoopback | Out-Default
    "== Get-VServerBridge (the guests' gateway and NAT out; VServer's nftables rules keep guests off the host's own services)"
    Get-VServerBridge | Out-Default
    "== Get-VServerProcess $Name | Sort-Object RSS -Descending | Select-Object -First 3 | Format-Table PID, GPID, RSS, COMMAND"
    Get-VServerProcess $Name | Sort-Object RSS -Descending | Select-Object -First 3 | Format-Table PID, GPID, RSS, COMMAND | Out-Default

}
finally {
    if ($env:VSERVER_DEMO_STOP -eq '1') {
        "== Stop-VServerGuest $Name"
        Stop-VServerGuest $Name -PassThru
    }
    if ($env:VSERVER_DEMO_REMOVE -eq '1') {
        # (CI: throw-away roots) the guest goes, and with the installation's last guest its lxcfs
        "== Remove-VServerGuest $Name"
        Remove-VServerGuest $Name -Confirm:$false
    }
}
