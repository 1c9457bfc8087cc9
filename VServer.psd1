# The one version source of VServer: Directory.Build.props reads ModuleVersion from here,
# and the build stages a copy of this manifest (paths relative to the staged folder) into
# output/VServer/. Importing this file from the repository root loads the build output.
@{
    RootModule           = 'output/VServer/VServer.dll'
    ModuleVersion        = '0.1.0'
    GUID                 = '6f0e2c3a-6b1d-4d53-9a51-3d0b8f6a2e71'
    Author               = 'VServer contributors'
    CompanyName          = 'VServer'
    Copyright            = '(c) VServer contributors. All rights reserved.'
    Description          = 'Linux-VServer style guest management (util-vserver) on namespaces, cgroups and an OCI runtime.'
    PowerShellVersion    = '7.4'
    CompatiblePSEditions = @('Core')
    FormatsToProcess     = @('output/VServer/VServer.Format.ps1xml')
    CmdletsToExport      = @(
        'New-VServerGuest'
        'Get-VServerGuest'
        'Set-VServerGuest'
        'Remove-VServerGuest'
        'Start-VServerGuest'
        'Stop-VServerGuest'
        'Restart-VServerGuest'
        'Invoke-VServerCommand'
        'Enter-VServerGuest'
        'Get-VServerContext'
        'Get-VServerProcess'
        'Stop-VServerProcess'
        'Invoke-VServerUnify'
        'Get-VServerDiskUsage'
        'Test-VServerHost'
        'Get-VServerNetwork'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('Linux', 'VServer', 'Containers', 'Namespaces', 'cgroups')
            ProjectUri = 'https://example.invalid/vserver'
        }
    }
}
