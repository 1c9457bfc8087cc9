using System.Management.Automation;

namespace VServer.Commands;

/// <summary>Install-VServerHostService: the systemd unit that starts marked guests at boot and stops all guests at shutdown.</summary>
[Cmdlet(VerbsLifecycle.Install, "VServerHostService", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(Runtime.HostServiceResult))]
public sealed class InstallVServerHostServiceCommand : VServerCmdlet
{
    /// <summary>The system's root, as systemctl --root takes it (an image, a test); default "/".</summary>
    [Parameter]
    public string Root { get; set; } = "/";

    /// <summary>Seconds every running guest gets, all of them at once, to stop at the host's shutdown.</summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public int StopTimeout { get; set; } = 90;

    /// <summary>Replace a unit file or link of that name that VServer did not write.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        Try(Root, () =>
        {
            var root = GetUnresolvedProviderPathFromPSPath(Root);
            var cli = global::VServer.Runtime.GuestRuntime.CliPath() ?? throw new VServerException("CliNotFound", ErrorKind.NotInstalled,
                "The vserver command was not found next to the module (or in VSERVER_CLI); the unit runs it.", "vserver");
            var unit = System.IO.Path.Combine(root, "etc/systemd/system", global::VServer.Runtime.HostService.UnitName);
            if (ShouldProcess(unit, $"Write the systemd unit ({cli} boot at start, {cli} shutdown {StopTimeout} at stop) and enable it for multi-user.target"))
            {
                WriteObject(global::VServer.Runtime.HostService.Install(root, Store.Paths, cli, StopTimeout, Force, Reporter));
            }
        });
    }
}
