using System.Management.Automation;
using VServer.Storage;
using VServer.Build;
using VServer.Runtime;

namespace VServer.Commands;

/// <summary>New-VServerGuest: util-vserver's <c>vserver NAME build</c>.</summary>
[Cmdlet(VerbsCommon.New, "VServerGuest", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(Guest))]
public sealed class NewVServerGuestCommand : GuestSettingsCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [AllowEmptyString]
    public string Name { get; set; } = "";

    [Parameter]
    public BuildMethod Method { get; set; } = BuildMethod.Busybox;

    /// <summary>Clone: a guest's name or a directory to copy; Template: the template directory (the shared lower layer).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string? Source { get; set; }

    /// <summary>Clone: the snapshot of the -Source guest to copy (Get-VServerSnapshot), instead of its root as it is now.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? SnapshotName { get; set; }

    /// <summary>Debootstrap: the release codename (bookworm); default the host's own.</summary>
    [Parameter]
    public string? Distribution { get; set; }

    /// <summary>Debootstrap: the mirror URL; default the first Debian mirror of the host's apt sources.</summary>
    [Parameter]
    public string? Mirror { get; set; }

    /// <summary>Debootstrap: minbase (default), buildd or fakechroot.</summary>
    [Parameter]
    [ValidateSet("minbase", "buildd", "fakechroot")]
    public string? Variant { get; set; }

    /// <summary>Debootstrap: more packages to install (systemd-sysv, openssh-server …).</summary>
    [Parameter]
    public string[]? Include { get; set; }

    /// <summary>The guest's root directory; default <c>$VSERVER_VDIR_ROOT/NAME</c>.</summary>
    [Parameter(ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string? Root { get; set; }

    protected override void ProcessRecord()
    {
        Try(Name, () =>
        {
            var config = new GuestConfig(Config.Validate.GuestName(Name))
            {
                InitStyle = InitStyle.Auto, // decided at each start from the guest's /sbin/init
            };
            var source = ResolveSource(config);
            var settings = GivenSettings();
            settings.Root = Root is null ? null : GetUnresolvedProviderPathFromPSPath(Root);
            settings.ApplyTo(config);
            GuestUsers.ApplyDefault(config, settings, Store, Reporter); // new guests get private users where the host can
            var debootstrap = DebootstrapSettings();
            var builder = RootBuilders.For(Method, source: source, debootstrap: debootstrap);
            var what = $"Create guest with the {Method} method" + (source is null ? "" : $" from {source}") + (config.Context is int x ? $", context {x}" : "") +
                       $", root {Store.RootOf(config)}";
            if (!ShouldProcess(Name, what))
            {
                return;
            }
            WriteObject(Store.Create(config, builder, Reporter, Cancel));
        });
    }

    /// <summary>-Distribution, -Mirror, -Variant and -Include: only for -Method Debootstrap.</summary>
    private DebootstrapOptions? DebootstrapSettings()
    {
        var given = new[] { nameof(Distribution), nameof(Mirror), nameof(Variant), nameof(Include) }.Where(MyInvocation.BoundParameters.ContainsKey).ToArray();
        if (Method != BuildMethod.Debootstrap)
        {
            return given.Length == 0 ? null : throw new VServerException("DebootstrapSettingNotUsed", ErrorKind.InvalidArgument,
                $"-{given[0]} is only for -Method Debootstrap, not {Method}.", given[0]);
        }
        return new DebootstrapOptions
        {
            Distribution = Distribution,
            Mirror = Mirror,
            Variant = Variant ?? "minbase",
            Include = Include ?? Array.Empty<string>(),
            CacheRoot = Path.Combine(Store.Paths.VdirRoot, ".cache"),
        };
    }

    /// <summary>The directory a Clone copies or a Template layers on; a cloned guest keeps its source's init style.</summary>
    private string? ResolveSource(GuestConfig config)
    {
        if (Method is not (BuildMethod.Clone or BuildMethod.Template or BuildMethod.Archive))
        {
            return Source is null ? null : throw new VServerException("SourceNotUsed", ErrorKind.InvalidArgument,
                $"-Source '{Source}' is only for the Clone, Template and Archive methods, not {Method}.", Source);
        }
        if (Source is null)
        {
            throw new VServerException("SourceRequired", ErrorKind.InvalidArgument,
                $"The {Method} method needs -Source: " + (Method switch
                {
                    BuildMethod.Clone => "a guest name or a directory to copy.",
                    BuildMethod.Archive => "the root filesystem tarball (.tar, .tar.gz, .tar.xz, .tar.zst).",
                    _ => "the template directory.",
                }), Method);
        }
        if (SnapshotName is not null && !(Method == BuildMethod.Clone && Config.Validate.IsValidGuestName(Source) && Store.Exists(Source)))
        {
            throw new VServerException("SnapshotNameNotUsed", ErrorKind.InvalidArgument,
                $"-SnapshotName is only for -Method Clone with -Source naming a guest ('{VisibleText.Of(Source)}' is none).", SnapshotName);
        }
        if (Method == BuildMethod.Clone && Config.Validate.IsValidGuestName(Source) && Store.Exists(Source))
        {
            if (SnapshotName is not null)
            {
                // the snapshot's configuration, as the guest was then
                var snap = new GuestSnapshots(Store).Get(Source, SnapshotName);
                var then = ConfigDirectory.Read(Path.Combine(snap.Path, "config"), Source, Store.Paths);
                (config.InitStyle, config.StartCommand, config.StopCommand) = (then.InitStyle, then.StartCommand, then.StopCommand);
                return snap.RootPath;
            }
            var from = Store.ReadConfig(Source);
            config.InitStyle = from.InitStyle;
            config.StartCommand = from.StartCommand;
            config.StopCommand = from.StopCommand;
            return Store.ResolveCloneSource(Source);
        }
        var path = GetUnresolvedProviderPathFromPSPath(Source);
        return Method switch
        {
            BuildMethod.Clone => Store.ResolveCloneSource(path),
            BuildMethod.Archive => path,
            _ => Config.Validate.TemplateDirectory(path),
        };
    }
}
