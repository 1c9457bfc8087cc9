using System.Management.Automation;
using VServer.Build;

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
                InitStyle = Method == BuildMethod.Busybox ? InitStyle.Plain : InitStyle.Sysv,
            };
            var settings = GivenSettings();
            settings.Root = Root is null ? null : GetUnresolvedProviderPathFromPSPath(Root);
            settings.ApplyTo(config);
            var builder = RootBuilders.For(Method);
            var what = $"Create guest with the {Method} method" + (config.Context is int x ? $", context {x}" : "") +
                       $", root {Store.RootOf(config)}";
            if (!ShouldProcess(Name, what))
            {
                return;
            }
            WriteObject(Store.Create(config, builder, Reporter, Cancel));
        });
    }
}
