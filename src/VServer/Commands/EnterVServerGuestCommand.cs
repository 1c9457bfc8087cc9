using System.Management.Automation;

namespace VServer.Commands;

/// <summary>Enter-VServerGuest: an interactive root shell inside a running guest, on this terminal.</summary>
[Cmdlet(VerbsCommon.Enter, "VServerGuest")]
[OutputType(typeof(void))]
public sealed class EnterVServerGuestCommand : VServerCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>The shell to run (a path inside the guest); default: the guest's <c>shell</c> setting, else /bin/sh.</summary>
    [Parameter]
    public string? Shell { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var n in ResolveNames(new[] { Name }))
        {
            Try(n, () =>
            {
                var code = Runtime.Enter(n, Shell);
                if (code != 0)
                {
                    WriteVerbose($"The shell in guest '{n}' exited with {code}.");
                }
            });
        }
    }
}
