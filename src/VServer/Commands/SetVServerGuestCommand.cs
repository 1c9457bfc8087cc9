using System.Management.Automation;
using VServer.Config;

namespace VServer.Commands;

/// <summary>Set-VServerGuest: changes a guest's configuration.</summary>
[Cmdlet(VerbsCommon.Set, "VServerGuest", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(Guest))]
public sealed class SetVServerGuestCommand : GuestSettingsCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string[] Name { get; set; } = Array.Empty<string>();

    /// <summary>Settings to reset to their defaults, e.g. <c>-Clear MemoryLimit,Capability</c>.</summary>
    [Parameter]
    [ValidateSet("Hostname", "Domainname", "Interface", "Flag", "Capability", "StartCommand", "StopCommand",
        "MemoryLimit", "CpuLimit", "ProcessLimit", "DiskLimit", "Nice", "ResourceLimit", "OnBoot", "NetworkMode", "Bridge", "Publish", "DnsServer", "PrivateUsers", IgnoreCase = true)]
    public string[]? Clear { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        var settings = GivenSettings();
        settings.Clear = Clear;
        if (Name.Length > 1 || Name.Any(WildcardPattern.ContainsWildcardCharacters))
        {
            if (settings.Context is not null)
            {
                ThrowTerminatingError(ErrorMapping.ToRecord(new VServerException("ContextForSeveralGuests", ErrorKind.InvalidArgument,
                    "-Context can be set on one guest at a time; contexts are unique per host.", settings.Context), null));
            }
        }
        foreach (var n in ResolveNames(Name))
        {
            Try(n, () =>
            {
                // Check every value before asking, so -WhatIf also reports bad input, and says what changes
                // on the running guest now and what waits for its next start.
                var plan = Store.PlanUpdate(n, settings);
                if (!ShouldProcess(n, "Change guest configuration (" + plan.Describe() + ")"))
                {
                    return;
                }
                var guest = Store.Update(n, settings, Reporter);
                if (PassThru)
                {
                    WriteObject(guest);
                }
            });
        }
    }
}
