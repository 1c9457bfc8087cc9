using System.Management.Automation;

namespace VServer.Commands;

/// <summary>Rename-VServerGuest: gives a stopped guest a new name (its configuration directory, and its root when it lies at the default place).</summary>
[Cmdlet(VerbsCommon.Rename, "VServerGuest", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(Guest))]
public sealed class RenameVServerGuestCommand : VServerCmdlet
{
    /// <summary>The guest's name as it is, literally: any name util-vserver allowed, wildcard characters included.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string Name { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1)]
    public string NewName { get; set; } = "";

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        Try(Name, () =>
        {
            Config.Validate.ExistingGuestName(Name);
            Config.Validate.GuestName(NewName);
            if (!Store.Exists(Name))
            {
                throw new VServerException("GuestNotFound", ErrorKind.ObjectNotFound, $"No guest named '{VisibleText.Of(Name)}' exists.", Name);
            }
            var guest = Store.Get(Name);
            var rootMoves = guest.Root == Store.Paths.DefaultRootDir(Name);
            if (ShouldProcess(Name, $"Rename guest to '{NewName}': {guest.ConfigPath} -> {Store.Paths.ConfigDir(NewName)}" +
                    (rootMoves ? $", {guest.Root} -> {Store.Paths.DefaultRootDir(NewName)}" : $" (its root {guest.Root} stays)")))
            {
                var renamed = Store.Rename(Name, NewName, Reporter);
                if (PassThru)
                {
                    WriteObject(renamed);
                }
            }
        });
    }
}
