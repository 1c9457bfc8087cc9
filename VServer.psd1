# The one version source of VServer: Directory.Build.props reads ModuleVersion from here, and
# the build stages a copy of this manifest into output/VServer/. Importing this file from the
# repository root loads that staged module as a nested module, so its help (en-US), views and
# types are found where they are; in the staged copy the build replaces the NestedModules line
# with RootModule = 'VServer.dll', FormatsToProcess and TypesToProcess.
@{
    NestedModules        = @('output/VServer/VServer.psd1')
    ModuleVersion        = '0.1.0'
    GUID                 = '6f0e2c3a-6b1d-4d53-9a51-3d0b8f6a2e71'
    Author               = 'VServer contributors'
    CompanyName          = 'VServer'
    Copyright            = '(c) VServer contributors. All rights reserved.'
    Description          = 'Linux-VServer style guest management (util-vserver) on namespaces, cgroups and an OCI runtime.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    CmdletsToExport      = @(
        'New-VServerGuest'
        'Get-VServerGuest'
        'Set-VServerGuest'
        'Remove-VServerGuest'
        'Rename-VServerGuest'
        'Export-VServerGuest'
        'Import-VServerGuest'
        'Move-VServerGuest'
        'Start-VServerGuest'
        'Stop-VServerGuest'
        'Restart-VServerGuest'
        'Wait-VServerGuest'
        'Get-VServerLog'
        'Checkpoint-VServerGuest'
        'Restore-VServerGuest'
        'Get-VServerSnapshot'
        'Remove-VServerSnapshot'
        'Invoke-VServerCommand'
        'Enter-VServerGuest'
        'Get-VServerContext'
        'Get-VServerProcess'
        'Stop-VServerProcess'
        'Invoke-VServerUnify'
        'Get-VServerDiskUsage'
        'Test-VServerHost'
        'Install-VServerHostService'
        'Get-VServerNetwork'
        'Import-VServerLegacyConfig'
        'Get-VServerBridge'
        'Set-VServerBridge'
        'Remove-VServerBridge'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags         = @('Linux', 'VServer', 'Containers', 'Namespaces', 'cgroups')
            ReleaseNotes = @'
0.1.0
- Guests: New/Get/Set/Remove-VServerGuest (Skeleton, Busybox, Clone, Template), util-vserver configuration directories.
- Lifecycle: Start/Stop/Restart-VServerGuest, Invoke-VServerCommand, Enter-VServerGuest on runc or crun under conmon.
- Views: Get-VServerContext (vserver-stat), Get-VServerProcess (vps), Stop-VServerProcess (vkill).
- Storage: Invoke-VServerUnify on shared extents, Get-VServerDiskUsage. Network: Bridge, IPvlan, Host, None; Get-VServerNetwork.
- Security: a default that holds against a guest's root (docs/security.md). Test-VServerHost.
- License: MIT (the LICENSE file in the module folder).
'@
        }
    }
}
