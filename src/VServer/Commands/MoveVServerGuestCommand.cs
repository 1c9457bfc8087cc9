using System.Management.Automation;
using VServer.Storage;

namespace VServer.Commands;

/// <summary>Move-VServerGuest: a guest to another host over ssh (GuestMover).</summary>
[Cmdlet(VerbsCommon.Move, "VServerGuest", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(MoveResult))]
public sealed class MoveVServerGuestCommand : VServerCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>[user@]host.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    public string Destination { get; set; } = "";

    /// <summary>Keep the guest here, stopped, after the other host has it.</summary>
    [Parameter]
    public SwitchParameter KeepSource { get; set; }

    /// <summary>ssh -o options, Name=value (Port=2222, IdentityFile=/root/.ssh/move).</summary>
    [Parameter]
    public string[] SshOption { get; set; } = Array.Empty<string>();

    /// <summary>The vserver command on the other host; default: vserver on its PATH.</summary>
    [Parameter]
    public string RemoteCommand { get; set; } = "vserver";

    /// <summary>Seconds a running guest gets to stop before it is killed.</summary>
    [Parameter]
    [ValidateRange(0, 86400)]
    public int Timeout { get; set; } = 30;

    protected override void ProcessRecord()
    {
        Try(Name, () =>
        {
            Config.Validate.GuestName(Name);
            if (!Store.Exists(Name))
            {
                throw new VServerException("GuestNotFound", ErrorKind.ObjectNotFound, $"No guest named '{VisibleText.Of(Name)}' exists.", Name);
            }
            var running = Runtime.Status(Name).State == GuestState.Running;
            if (ShouldProcess(Name, $"Move guest to {Destination}" + (running ? " (it runs: stopped here, started there)" : "") + (KeepSource ? ", keeping it here" : ", removing it here")))
            {
                WriteObject(GuestMover.Move(Store, Runtime, Name, new MoveOptions
                {
                    Destination = Destination,
                    KeepSource = KeepSource,
                    SshOptions = SshOption,
                    RemoteCommand = RemoteCommand,
                    StopTimeout = TimeSpan.FromSeconds(Timeout),
                }, Reporter, Cancel));
            }
        });
    }
}
