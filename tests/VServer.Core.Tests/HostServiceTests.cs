using VServer.Runtime;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>Install-VServerHostService's unit and its enabling link, under a root of the test's own; the host's boot and shutdown verbs.</summary>
public class HostServiceTests
{
    [Fact]
    public void TheUnitRunsTheCommandForThisInstallationAndIsEnabledAsSystemctlDoes()
    {
        using var roots = new TempRoots();
        var system = Path.Combine(roots.Base, "image");
        var r = HostService.Install(system, roots.Paths, "/opt/vserver/vserver", 45, force: false);
        Assert.True(r.UnitChanged && r.LinkChanged);
        var unit = File.ReadAllText(Path.Combine(system, "etc/systemd/system/vserver-guests.service"));
        Assert.StartsWith(HostService.Marker + "\n[Unit]\n", unit);
        Assert.Contains("\nExecStart=/opt/vserver/vserver boot\n", unit);
        Assert.Contains("\nExecStop=/opt/vserver/vserver shutdown 45\n", unit);
        Assert.Contains("\nTimeoutStopSec=75\n", unit);
        Assert.Contains($"\nEnvironment=VSERVER_CONFIG_ROOT={roots.Paths.ConfigRoot}\n", unit); // this installation, not the default one
        Assert.Contains("\nWantedBy=multi-user.target\n", unit);
        Assert.Equal("/etc/systemd/system/vserver-guests.service",
            new FileInfo(Path.Combine(system, "etc/systemd/system/multi-user.target.wants/vserver-guests.service")).LinkTarget);

        // again: nothing to change
        r = HostService.Install(system, roots.Paths, "/opt/vserver/vserver", 45, force: false);
        Assert.False(r.UnitChanged || r.LinkChanged);
        // the default installation's unit names no environment
        Assert.DoesNotContain("Environment=", HostService.Render(new VServerPaths(VServerPaths.DefaultConfigRoot, VServerPaths.DefaultVdirRoot, VServerPaths.DefaultRunRoot), "/usr/sbin/vserver", 90));
    }

    [Fact]
    public void AUnitOfThatNameVServerDidNotWriteIsLeftAloneUnlessForced()
    {
        using var roots = new TempRoots();
        var system = Path.Combine(roots.Base, "image");
        var path = Path.Combine(system, "etc/systemd/system/vserver-guests.service");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        const string mine = "[Unit]\nDescription=the administrator's own\n";
        File.WriteAllText(path, mine);
        var e = Assert.Throws<VServerException>(() => HostService.Install(system, roots.Paths, "/opt/vserver/vserver", 90, force: false));
        Assert.Equal("UnitNotOurs", e.ErrorId);
        Assert.Contains(path, e.Message);
        Assert.Equal(mine, File.ReadAllText(path));
        Assert.False(Directory.Exists(Path.Combine(system, "etc/systemd/system/multi-user.target.wants")));
        HostService.Install(system, roots.Paths, "/opt/vserver/vserver", 90, force: true);
        Assert.StartsWith(HostService.Marker, File.ReadAllText(path));
    }
}
