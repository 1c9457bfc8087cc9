using System.Management.Automation;
using VServer.Storage;

namespace VServer.Commands;

/// <summary>Import-VServerGuest: a guest from an Export-VServerGuest archive, checked whole, then built in staging like any new guest.</summary>
[Cmdlet(VerbsData.Import, "VServerGuest", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(Guest))]
public sealed class ImportVServerGuestCommand : VServerCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    public string Path { get; set; } = "";

    /// <summary>The new guest's name; default: the name in the archive.</summary>
    [Parameter(Position = 1)]
    public string? Name { get; set; }

    /// <summary>The new guest's context; default: the archive's (refused when in use here); 0: a free one.</summary>
    [Parameter]
    [ValidateRange(0, 65535)]
    public int? Context { get; set; }

    protected override void ProcessRecord()
    {
        var path = GetUnresolvedProviderPathFromPSPath(Path);
        Try(path, () =>
        {
            var info = GuestArchive.Inspect(path, Cancel);
            var name = Name ?? info.Name;
            if (ShouldProcess(name, $"Import guest from {path} ({info.Members} members; context {(Context is int c ? (c == 0 ? "a free one" : c.ToString(System.Globalization.CultureInfo.InvariantCulture)) : info.Context?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "a free one")})"))
            {
                WriteObject(GuestArchive.Import(Store, path, name, Context, Reporter, Cancel));
            }
        });
    }
}
