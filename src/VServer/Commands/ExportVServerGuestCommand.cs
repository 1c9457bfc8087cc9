using System.Management.Automation;
using VServer.Storage;

namespace VServer.Commands;

/// <summary>Export-VServerGuest: one guest, configuration and root, in one tar archive (GuestArchive's format).</summary>
[Cmdlet(VerbsData.Export, "VServerGuest", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Low)]
[OutputType(typeof(System.IO.FileInfo))]
public sealed class ExportVServerGuestCommand : VServerCmdlet
{
    /// <summary>The guest, literally (no wildcards: one guest, one archive).</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string Name { get; set; } = "";

    /// <summary>The archive: .tar, .tar.gz, .tar.xz or .tar.zst.</summary>
    [Parameter(Mandatory = true, Position = 1)]
    public string Path { get; set; } = "";

    /// <summary>Export a running guest, frozen while it is read; replace an existing file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        Try(Name, () =>
        {
            Config.Validate.ExistingGuestName(Name);
            if (!Store.Exists(Name))
            {
                throw new VServerException("GuestNotFound", ErrorKind.ObjectNotFound, $"No guest named '{VisibleText.Of(Name)}' exists.", Name);
            }
            var path = GetUnresolvedProviderPathFromPSPath(Path);
            var running = Runtime.Status(Name).State == GuestState.Running;
            if (ShouldProcess(Name, $"Export guest to {path}" + (running ? " (it runs: frozen while it is read)" : "")))
            {
                var result = GuestArchive.Export(Store, Name, path, Force, Reporter, Cancel);
                if (result.Frozen)
                {
                    WriteVerbose($"Guest '{Name}' was frozen for {result.Duration.TotalSeconds:F1} s while it was read.");
                }
                // through the provider, so it shows and pipes as Get-Item's would (mode, size, PSPath)
                WriteObject(InvokeProvider.Item.Get(WildcardPattern.Escape(result.Path)), enumerateCollection: true);
            }
        });
    }
}
