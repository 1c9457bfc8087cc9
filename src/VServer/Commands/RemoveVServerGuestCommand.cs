using System.Management.Automation;

namespace VServer.Commands;

/// <summary>Remove-VServerGuest: deletes a guest's root directory and its configuration.</summary>
[Cmdlet(VerbsCommon.Remove, "VServerGuest", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.High)]
[OutputType(typeof(void))]
public sealed class RemoveVServerGuestCommand : VServerCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string[] Name { get; set; } = Array.Empty<string>();

    protected override void ProcessRecord()
    {
        foreach (var n in ResolveNames(Name))
        {
            Try(n, () =>
            {
                var guest = Store.Get(n);
                if (ShouldProcess(n, $"Remove guest: delete its root {guest.Root} and its configuration {guest.ConfigPath}"))
                {
                    Store.Remove(n, Reporter, Cancel);
                }
            });
        }
    }
}
