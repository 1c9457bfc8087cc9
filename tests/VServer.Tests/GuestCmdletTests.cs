using System.Management.Automation;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

public class GuestCmdletTests
{
    private static Guest Single(System.Collections.ObjectModel.Collection<PSObject> output) =>
        Assert.IsType<Guest>(Assert.Single(output).BaseObject);

    [Fact]
    public void NewPipedToGetReturnsTheGuest()
    {
        using var s = new PowerShellSession();
        var g = Single(s.Invoke("New-VServerGuest web -Context 1000 -Method Skeleton -WarningAction SilentlyContinue | Get-VServerGuest"));
        Assert.Empty(s.Errors);
        Assert.Equal("web", g.Name);
        Assert.Equal(1000, g.Context);
        Assert.Equal(GuestState.Stopped, g.State);
        Assert.Equal(Path.Combine(s.Roots.Paths.VdirRoot, "web"), g.Root);
        Assert.Equal(Path.Combine(s.Roots.Paths.ConfigRoot, "web"), g.ConfigPath);
        Assert.Equal("VServer.Guest", s.Invoke("(Get-VServerGuest web).PSObject.TypeNames[0]")[0].BaseObject);
    }

    [Fact]
    public void SettingsFromNewAreReadBack()
    {
        using var s = new PowerShellSession();
        var g = Single(s.Invoke(
            "New-VServerGuest artemis -Method Skeleton -Context 1000 -Hostname artemis -Domainname example.com " +
            "-Interface eth0:62.24.85.244/24 -Flag lock,nproc -Capability NET_RAW,'!CHOWN' -InitStyle Sysv " +
            "-StartCommand '/sbin/rc default' -StopCommand '/sbin/rc shutdown' -MemoryLimit 256MB -CpuLimit 1.5 " +
            "-ProcessLimit 200 -Nice 5 -ResourceLimit @{ nofile = 1024; core = 'inf' } -OnBoot -WarningAction SilentlyContinue"));
        Assert.Empty(s.Errors);
        Assert.Equal(new[] { "62.24.85.244/24" }, g.Addresses);
        Assert.Equal("eth0", g.Interfaces[0].Device);
        Assert.Equal(new[] { "lock", "nproc" }, g.Flags);
        Assert.Equal(new[] { "CAP_NET_RAW", "!CAP_CHOWN" }, g.Capabilities);
        Assert.Contains("CAP_NET_RAW", g.BoundingSet);
        Assert.DoesNotContain("CAP_CHOWN", g.BoundingSet);
        Assert.Equal("/sbin/rc default", g.StartCommand);
        Assert.Equal(256L << 20, g.MemoryLimit);
        Assert.Equal(1.5, g.CpuLimit);
        Assert.Equal(200, g.ProcessLimit);
        Assert.Equal(5, g.Nice);
        Assert.True(g.OnBoot);
        Assert.Equal(new[] { new ResourceLimit("core", ResourceLimit.Unlimited, ResourceLimit.Unlimited), new ResourceLimit("nofile", 1024, 1024) }, g.ResourceLimits);
        Assert.Equal("default", File.ReadAllText(Path.Combine(g.ConfigPath, "apps/init/mark")).Trim());
    }

    [Fact]
    public void WildcardRemoveWithWhatIfChangesNothingAndConfirmedRemoveDeletes()
    {
        using var s = new PowerShellSession();
        s.Invoke("'web','www','db' | New-VServerGuest -Method Skeleton -WarningAction SilentlyContinue | Out-Null");
        Assert.Empty(s.Errors);
        var before = s.Roots.Snapshot();
        s.Invoke("Get-VServerGuest w* | Remove-VServerGuest -WhatIf");
        Assert.Empty(s.Errors);
        Assert.Equal(before, s.Roots.Snapshot());
        s.Invoke("Get-VServerGuest w* | Remove-VServerGuest -Confirm:$false");
        Assert.Empty(s.Errors);
        Assert.Equal(new object[] { "db" }, s.Invoke("Get-VServerGuest | ForEach-Object Name").Select(o => o.BaseObject));
        Assert.False(Directory.Exists(Path.Combine(s.Roots.Paths.VdirRoot, "web")));
    }

    [Fact]
    public void SetChangesSettingsFromThePipelineAndClearResetsThem()
    {
        using var s = new PowerShellSession();
        s.Invoke("New-VServerGuest web -Method Skeleton -WarningAction SilentlyContinue | Out-Null");
        var g = Single(s.Invoke("Get-VServerGuest web | Set-VServerGuest -MemoryLimit 128MB -OnBoot -Interface 10.1.0.2/16 -PassThru"));
        Assert.Empty(s.Errors);
        Assert.Equal(128L << 20, g.MemoryLimit);
        Assert.True(g.OnBoot);
        Assert.Equal(new[] { "10.1.0.2/16" }, g.Addresses);
        g = Single(s.Invoke("Set-VServerGuest web -Clear MemoryLimit,Interface -OnBoot:$false -PassThru"));
        Assert.Null(g.MemoryLimit);
        Assert.False(g.OnBoot);
        Assert.Empty(g.Addresses);
        s.Invoke("Set-VServerGuest web -Nice 3 -WhatIf");
        Assert.Null(Single(s.Invoke("Get-VServerGuest web")).Nice);
    }

    [Theory]
    [InlineData("New-VServerGuest '../x' -Method Skeleton", "InvalidName", ErrorCategory.InvalidArgument, "../x")]
    [InlineData("New-VServerGuest 'a/b' -Method Skeleton", "InvalidName", ErrorCategory.InvalidArgument, "a/b")]
    [InlineData("New-VServerGuest '' -Method Skeleton", "InvalidName", ErrorCategory.InvalidArgument, "")]
    [InlineData("New-VServerGuest ('a' * 300) -Method Skeleton", "InvalidName", ErrorCategory.InvalidArgument, null)]
    [InlineData("New-VServerGuest x -Context 0 -Method Skeleton", "InvalidContext", ErrorCategory.InvalidArgument, 0)]
    [InlineData("New-VServerGuest x -Context 1 -Method Skeleton", "InvalidContext", ErrorCategory.InvalidArgument, 1)]
    [InlineData("New-VServerGuest x -Context 49152 -Method Skeleton", "InvalidContext", ErrorCategory.InvalidArgument, 49152)]
    [InlineData("New-VServerGuest x -Interface 'eth0:300.1.1.1/24' -Method Skeleton", "InvalidInterface", ErrorCategory.InvalidArgument, "eth0:300.1.1.1/24")]
    [InlineData("New-VServerGuest x -Capability NET_RAWR -Method Skeleton", "InvalidCapability", ErrorCategory.InvalidArgument, "NET_RAWR")]
    [InlineData("New-VServerGuest x -Flag sparkle -Method Skeleton", "InvalidFlag", ErrorCategory.InvalidArgument, "sparkle")]
    [InlineData("New-VServerGuest x -Hostname 'bad_host!' -Method Skeleton", "InvalidHostname", ErrorCategory.InvalidArgument, "bad_host!")]
    [InlineData("New-VServerGuest x -InitStyle Command -Method Skeleton", "MissingStartCommand", ErrorCategory.InvalidArgument, "x")]
    [InlineData("New-VServerGuest x -ResourceLimit @{ files = 3 } -Method Skeleton", "InvalidResourceLimit", ErrorCategory.InvalidArgument, "files")]
    [InlineData("New-VServerGuest x -Root '/' -Method Skeleton", "InvalidRoot", ErrorCategory.InvalidArgument, "/")]
    [InlineData("New-VServerGuest x -Method Debootstrap -Distribution 'book worm'", "InvalidDebootstrapArgument", ErrorCategory.InvalidArgument, "book worm")]
    [InlineData("New-VServerGuest x -Method Debootstrap -Distribution bookworm -Mirror 'ftp://mirror.example/debian'", "InvalidMirror", ErrorCategory.InvalidArgument, "ftp://mirror.example/debian")]
    [InlineData("New-VServerGuest x -Method Debootstrap -Distribution bookworm -Include 'openssh-server','--keyring=/x'", "InvalidDebootstrapArgument", ErrorCategory.InvalidArgument, "--keyring=/x")]
    [InlineData("New-VServerGuest x -Method Busybox -Include openssh-server", "DebootstrapSettingNotUsed", ErrorCategory.InvalidArgument, "Include")]
    [InlineData("Get-VServerGuest nosuch", "GuestNotFound", ErrorCategory.ObjectNotFound, "nosuch")]
    [InlineData("Set-VServerGuest nosuch -Nice 1", "GuestNotFound", ErrorCategory.ObjectNotFound, "nosuch")]
    [InlineData("Remove-VServerGuest nosuch -Confirm:$false", "GuestNotFound", ErrorCategory.ObjectNotFound, "nosuch")]
    public void BadInputIsAnErrorRecordAndChangesNothing(string script, string errorId, ErrorCategory category, object? target)
    {
        using var s = new PowerShellSession();
        var before = s.Roots.Snapshot();
        var output = s.Invoke(script);
        Assert.Empty(output);
        var e = Assert.Single(s.Errors);
        Assert.Equal(errorId, e.FullyQualifiedErrorId.Split(',')[0]);
        Assert.Equal(category, e.CategoryInfo.Category);
        if (target is not null)
        {
            Assert.Equal(target, e.TargetObject);
            Assert.Contains(target.ToString()!, e.Exception.Message);
        }
        Assert.EndsWith("VServer.Commands." + script.Split(' ')[0].Replace("-", "") + "Command", e.FullyQualifiedErrorId);
        Assert.Equal(before, s.Roots.Snapshot());
    }

    [Fact]
    public void DuplicatesAreRefusedWithoutTouchingTheDisk()
    {
        using var s = new PowerShellSession();
        s.Invoke("New-VServerGuest web -Context 1000 -Method Skeleton -WarningAction SilentlyContinue | Out-Null");
        var before = s.Roots.Snapshot();
        s.Invoke("New-VServerGuest web -Method Skeleton");
        Assert.Equal("GuestExists", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Invoke("New-VServerGuest db -Context 1000 -Method Skeleton");
        var e = Assert.Single(s.Errors);
        Assert.Equal("ContextInUse", e.FullyQualifiedErrorId.Split(',')[0]);
        Assert.Equal(ErrorCategory.ResourceExists, e.CategoryInfo.Category);
        Assert.Equal(before, s.Roots.Snapshot());
    }

    /// <summary>Every text option with an empty value and with garbage (nspawn TEST-13 style).</summary>
    [Theory]
    [InlineData("Hostname")]
    [InlineData("Domainname")]
    [InlineData("Interface")]
    [InlineData("Flag")]
    [InlineData("Capability")]
    [InlineData("StartCommand")]
    [InlineData("StopCommand")]
    [InlineData("Distribution")]
    [InlineData("Mirror")]
    [InlineData("Include")]
    public void EveryTextOptionRefusesEmptyAndGarbage(string option)
    {
        using var s = new PowerShellSession();
        var before = s.Roots.Snapshot();
        foreach (var value in new[] { "''", "'%%garbage!! \"'" })
        {
            var method = option is "Distribution" or "Mirror" or "Include" ? "Debootstrap" : "Skeleton";
            s.Invoke($"New-VServerGuest x -Method {method} -{option} {value}");
            var e = Assert.Single(s.Errors);
            Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
            Assert.Equal(before, s.Roots.Snapshot());
        }
    }

    [Fact]
    public void OneBadGuestDoesNotStopThePipeline()
    {
        using var s = new PowerShellSession();
        var output = s.Invoke("'good1','bad/name','good2' | New-VServerGuest -Method Skeleton -WarningAction SilentlyContinue");
        Assert.Equal(new[] { "good1", "good2" }, output.Select(o => ((Guest)o.BaseObject).Name));
        Assert.Equal("InvalidName", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
    }

    [Fact]
    public void GetByContext()
    {
        using var s = new PowerShellSession();
        s.Invoke("New-VServerGuest web -Context 1234 -Method Skeleton -WarningAction SilentlyContinue | Out-Null");
        Assert.Equal("web", Single(s.Invoke("Get-VServerGuest -Context 1234")).Name);
        s.Invoke("Get-VServerGuest -Context 999");
        Assert.Equal("GuestNotFound", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
    }

    [Fact]
    public void TheTableViewRendersThroughOutDefault()
    {
        using var s = new PowerShellSession();
        s.Invoke("New-VServerGuest web -Context 1000 -Hostname www -Interface eth0:10.0.0.2/24,10.0.0.3/24 -Method Skeleton -OnBoot -WarningAction SilentlyContinue | Out-Null");
        var text = s.Render("Get-VServerGuest");
        var lines = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd()).ToArray();
        Assert.Equal("Name Context State   Init OnBoot Hostname Addresses", lines[0]);
        Assert.Matches("^-+ -+ -+ +-+ -+ -+ -+$", lines[1]);
        Assert.Equal("web     1000 Stopped Auto True   www      10.0.0.2/24, 10.0.0.3/24", lines[2]); // new guests: Auto, decided at each start
    }

    [Fact]
    public void GuestNamesTabComplete()
    {
        using var s = new PowerShellSession();
        s.Invoke("'web','www','db' | New-VServerGuest -Method Skeleton -WarningAction SilentlyContinue | Out-Null");
        var matches = s.Invoke("(TabExpansion2 -inputScript 'Get-VServerGuest w' -cursorColumn 18).CompletionMatches | ForEach-Object CompletionText");
        Assert.Equal(new object[] { "web", "www" }, matches.Select(m => m.BaseObject));
        matches = s.Invoke("(TabExpansion2 -inputScript 'Remove-VServerGuest d' -cursorColumn 21).CompletionMatches | ForEach-Object CompletionText");
        Assert.Equal(new object[] { "db" }, matches.Select(m => m.BaseObject));
    }
}

/// <summary>util-vserver's own files through the cmdlets: a legacy NAME.conf imported, a vserver-build directory changed.</summary>
public class UtilVserverCmdletTests
{
    [Fact]
    public void ImportVServerLegacyConfigMakesTheSeedsGuestsAndRefusesTheScript()
    {
        using var s = new PowerShellSession();
        var legacy = Path.Combine(s.Roots.Base, "legacy");
        Directory.CreateDirectory(legacy);
        File.WriteAllText(Path.Combine(legacy, "artemis.conf"), VServer.Tests.Shared.UtilVserverFixtures.Artemis);
        File.WriteAllText(Path.Combine(legacy, "ftp.conf"), VServer.Tests.Shared.UtilVserverFixtures.Ftp);
        File.WriteAllText(Path.Combine(legacy, "db.conf"), VServer.Tests.Shared.UtilVserverFixtures.Profiles);

        // -WhatIf: every file read and checked, nothing written
        s.Invoke($"Import-VServerLegacyConfig '{legacy}/*.conf' -WhatIf -WarningAction SilentlyContinue"); // wildcards expand (Get-ChildItem | … is the Pester test's)
        var refused = Assert.Single(s.Errors);
        Assert.Equal("LegacyConfigRefused,VServer.Commands.ImportVServerLegacyConfigCommand", refused.FullyQualifiedErrorId);
        Assert.Contains("line 2", refused.Exception.Message);
        Assert.Empty(s.Invoke("Get-VServerGuest"));

        s.Errors.Clear();
        var guests = s.Invoke($"'{legacy}/artemis.conf', '{legacy}/db.conf', '{legacy}/ftp.conf' | Import-VServerLegacyConfig -WarningVariable w -WarningAction SilentlyContinue; $w | ForEach-Object {{ \"warning: $_\" }}");
        Assert.Single(s.Errors); // db.conf again
        var imported = guests.Select(o => o.BaseObject).OfType<Guest>().ToList();
        Assert.Equal(new[] { "artemis", "ftp" }, imported.Select(g => g.Name));
        Assert.Equal(1000, imported[0].Context);
        Assert.Equal(new[] { "62.24.85.244/24" }, imported[0].Addresses);
        Assert.Equal(Path.Combine(s.Paths.VdirRoot, "ftp"), imported[1].Root);
        Assert.Contains(guests.Select(o => o.BaseObject).OfType<string>(), w => w.Contains("IPROOTBCAST", StringComparison.Ordinal));
        Assert.Contains(guests.Select(o => o.BaseObject).OfType<string>(), w => w.Contains("/vservers/", StringComparison.Ordinal) || w.Contains("does not exist", StringComparison.Ordinal));
        Assert.Equal(VServer.Tests.Shared.UtilVserverFixtures.Artemis, File.ReadAllText(Path.Combine(legacy, "artemis.conf"))); // the file is left as it was

        // one file, another name
        s.Errors.Clear();
        var renamed = Assert.Single(s.Invoke($"Import-VServerLegacyConfig '{legacy}/ftp.conf' -Name ftp2 -WarningAction SilentlyContinue"));
        Assert.Equal("ftp2", ((Guest)renamed.BaseObject).Name);
        Assert.Empty(s.Errors);
    }

    [RootFact]
    public void ExportAndImportAsAUserTypesThem()
    {
        using var s = new PowerShellSession();
        s.Invoke("New-VServerGuest web -Context 1000 -Method Skeleton -Hostname web.example.org -WarningAction SilentlyContinue | Out-Null");
        var archive = Path.Combine(s.Roots.Base, "web.tar.xz");
        // -WhatIf writes nothing; the archive comes out as Get-Item shows it
        s.Invoke($"Export-VServerGuest web '{archive}' -WhatIf");
        Assert.False(File.Exists(archive));
        var file = Assert.Single(s.Invoke($"Get-VServerGuest web | Export-VServerGuest -Path '{archive}'"));
        Assert.Equal(archive, ((FileInfo)file.BaseObject).FullName);
        Assert.Equal(archive, file.Properties["PSPath"].Value.ToString()!.Split("::")[^1]);
        Assert.Empty(s.Errors);
        // the file again: refused, naming it
        s.Invoke($"Export-VServerGuest web '{archive}'");
        Assert.Equal("ArchiveExists,VServer.Commands.ExportVServerGuestCommand", Assert.Single(s.Errors).FullyQualifiedErrorId);
        s.Errors.Clear();

        // the archive's context is web's: refused; a copy with a free context and the archive's other settings
        s.Invoke($"'{archive}' | Import-VServerGuest -Name web2");
        var refused = Assert.Single(s.Errors);
        Assert.Equal("ContextInUse,VServer.Commands.ImportVServerGuestCommand", refused.FullyQualifiedErrorId);
        Assert.Contains("'web'", refused.Exception.Message);
        s.Errors.Clear();
        s.Invoke($"Import-VServerGuest '{archive}' web3 -WhatIf");
        Assert.Empty(s.Invoke("Get-VServerGuest web3 -ErrorAction SilentlyContinue"));
        var copy = (Guest)Assert.Single(s.Invoke($"Export-VServerGuest web '{archive}' -Force | Import-VServerGuest -Name web2 -Context 0")).BaseObject;
        Assert.Equal("web2", copy.Name);
        Assert.NotEqual(1000, copy.Context);
        Assert.Equal("web.example.org", copy.Hostname);
        Assert.Equal(Path.Combine(s.Paths.VdirRoot, "web2"), copy.Root);
        Assert.Empty(s.Errors);
    }

    [Fact]
    public void MoveWithWhatIfChangesNothingAndABadDestinationIsNamed()
    {
        using var s = new PowerShellSession();
        s.Invoke("New-VServerGuest web -Method Skeleton -WarningAction SilentlyContinue | Out-Null");
        var text = s.Render("Get-VServerGuest web | Move-VServerGuest -Destination root@hostb -WhatIf");
        Assert.Contains("Move guest to root@hostb, removing it here", text);
        Assert.Single(s.Invoke("Get-VServerGuest web"));
        s.Invoke("Move-VServerGuest web -Destination '-oProxyCommand=id' -Confirm:$false");
        var e = Assert.Single(s.Errors);
        Assert.Equal("InvalidDestination,VServer.Commands.MoveVServerGuestCommand", e.FullyQualifiedErrorId);
        Assert.Contains("-oProxyCommand=id", e.Exception.Message);
        Assert.Single(s.Invoke("Get-VServerGuest web"));
    }

    [Fact]
    public void InstallVServerHostServiceWritesAndEnablesItsUnitAndWhatIfWritesNothing()
    {
        TestEnvironment.UseStagedCli(); // the unit runs the module's vserver command
        using var s = new PowerShellSession();
        var image = Path.Combine(s.Roots.Base, "image");
        s.Invoke($"Install-VServerHostService -Root '{image}' -WhatIf");
        Assert.False(Directory.Exists(image));
        var r = (VServer.Runtime.HostServiceResult)Assert.Single(s.Invoke($"Install-VServerHostService -Root '{image}' -StopTimeout 60")).BaseObject;
        Assert.Empty(s.Errors);
        Assert.Equal(Path.Combine(image, "etc/systemd/system/vserver-guests.service"), r.UnitPath);
        Assert.Contains(" shutdown 60\n", File.ReadAllText(r.UnitPath));
        Assert.Equal("/etc/systemd/system/vserver-guests.service", new FileInfo(r.WantsLink).LinkTarget);
        File.WriteAllText(r.UnitPath, "[Unit]\n");
        s.Invoke($"Install-VServerHostService -Root '{image}'");
        Assert.Equal("UnitNotOurs,VServer.Commands.InstallVServerHostServiceCommand", Assert.Single(s.Errors).FullyQualifiedErrorId);
        Assert.Equal("[Unit]\n", File.ReadAllText(r.UnitPath));
    }

    [Fact]
    public void SetVServerGuestOnAVserverBuildDirectoryTouchesOnlyItsFile()
    {
        using var s = new PowerShellSession();
        var dir = s.Paths.ConfigDir("uvftp");
        void Put(string rel, string content)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(dir, rel))!);
            File.WriteAllText(Path.Combine(dir, rel), content);
        }
        Directory.CreateDirectory(Path.Combine(s.Paths.ConfigRoot, ".defaults"));
        Directory.CreateDirectory(Path.Combine(s.Roots.Base, "real", "uvftp"));
        File.CreateSymbolicLink(Path.Combine(s.Paths.ConfigRoot, ".defaults", "vdirbase"), Path.Combine(s.Roots.Base, "real"));
        Put("context", "1042\n");
        Put("name", "FTP Server\n");
        Put("interfaces/00/ip", "10.0.0.2\n");
        Put("interfaces/02/ip", "10.0.0.3\n");
        Put("interfaces/02/disabled", "");
        Put("interfaces/bcast", "10.0.0.255\n");
        Put("interfaces/1/ip", "10.0.0.4\n");
        Put("interfaces/1/scope", "host\n");
        Put("nice", "5\n");
        Directory.CreateDirectory(Path.Combine(dir, "apps", "init"));
        File.CreateSymbolicLink(Path.Combine(dir, "vdir"), "../.defaults/vdirbase/uvftp");
        var before = VServer.Tests.Shared.UtilVserverFixtures.Manifest(dir);

        s.Invoke("Set-VServerGuest uvftp -Nice 6");
        Assert.Empty(s.Errors);
        Assert.Equal(before.Replace("nice [5\\n]", "nice [6\\n]", StringComparison.Ordinal), VServer.Tests.Shared.UtilVserverFixtures.Manifest(dir));
        var g = (Guest)s.Invoke("Get-VServerGuest uvftp")[0].BaseObject;
        Assert.Equal(Path.Combine(s.Roots.Base, "real", "uvftp"), g.Root);
        Assert.Equal(6, g.Nice);
    }

    [Fact]
    public void GuestsNamedAsOnlyUtilVserverAllowsAreListedWithAWarningAndRenamedByPipeline()
    {
        using var s = new PowerShellSession();
        foreach (var n in new[] { "web[1]", "ftp server" })
        {
            Directory.CreateDirectory(Path.Combine(s.Paths.ConfigDir(n), "apps", "init"));
            Directory.CreateDirectory(s.Paths.DefaultRootDir(n));
        }
        File.WriteAllText(Path.Combine(s.Paths.ConfigDir("ftp server"), "context"), "1042\n");
        var all = s.Invoke("Get-VServerGuest -WarningVariable w -WarningAction SilentlyContinue; $w | ForEach-Object { \"warning: $_\" }");
        Assert.Empty(s.Errors);
        Assert.Equal(new[] { "ftp server", "web[1]" }, all.Select(o => o.BaseObject).OfType<Guest>().Select(g => g.Name));
        Assert.Equal(2, all.Select(o => o.BaseObject).OfType<string>().Count(w => w.StartsWith("warning: ", StringComparison.Ordinal) && w.Contains("Rename-VServerGuest", StringComparison.Ordinal)));
        // a name with wildcard characters is the guest of that very name
        Assert.Equal("web[1]", ((Guest)Assert.Single(s.Invoke("Get-VServerGuest 'web[1]' -WarningAction SilentlyContinue")).BaseObject).Name);

        // -WhatIf changes nothing; the pipeline renames; the root at the default place moves with it
        s.Invoke("Get-VServerGuest 'ftp server' -WarningAction SilentlyContinue | Rename-VServerGuest -NewName ftp -WhatIf");
        Assert.True(Directory.Exists(s.Paths.ConfigDir("ftp server")));
        var renamedAll = (s.Invoke("Get-VServerGuest 'ftp server' -WarningAction SilentlyContinue | Rename-VServerGuest -NewName ftp -PassThru"));
        Assert.True(s.Errors.Count == 0, string.Join("|", s.Errors.Select(x => x.ToString())));
        var renamed = Assert.Single(renamedAll);
        Assert.Empty(s.Errors);
        Assert.Equal(("ftp", 1042, s.Paths.DefaultRootDir("ftp")), (((Guest)renamed.BaseObject).Name, ((Guest)renamed.BaseObject).Context, ((Guest)renamed.BaseObject).Root));
        Assert.False(Directory.Exists(s.Paths.DefaultRootDir("ftp server")));
        Assert.Empty(s.Invoke("Rename-VServerGuest 'web[1]' web1")); // no -PassThru: nothing out
        Assert.Equal(new[] { "ftp", "web1" }, s.Invoke("Get-VServerGuest").Select(o => ((Guest)o.BaseObject).Name));

        // a bad new name is named, and nothing moves
        s.Invoke("Rename-VServerGuest ftp 'f t p'");
        var e = Assert.Single(s.Errors);
        Assert.Equal("InvalidName,VServer.Commands.RenameVServerGuestCommand", e.FullyQualifiedErrorId);
        Assert.Contains("f t p", e.Exception.Message);
        Assert.True(Directory.Exists(s.Paths.ConfigDir("ftp")));
    }
}

public class BridgeCmdletTests
{
    [VServer.Tests.Shared.RootFact]
    public void SetGetAndRemoveVServerBridge()
    {
        using var s = new PowerShellSession();
        var name = PowerShellSession.Unique("vsc");
        try
        {
            s.Invoke($"Set-VServerBridge {name} -Address 10.215.7.1/24 -Nat -WhatIf");
            Assert.Empty(s.Errors);
            Assert.Empty(s.Invoke("Get-VServerBridge"));

            var b = Assert.IsType<Bridge>(Assert.Single(s.Invoke($"Set-VServerBridge {name} -Address 10.215.7.1/24 -Nat -DnsServer 10.215.7.1 -PassThru")).BaseObject);
            Assert.Empty(s.Errors);
            Assert.Equal(new[] { "10.215.7.1/24" }, b.Addresses);
            Assert.Equal((true, false), (b.Nat, b.Isolated));
            Assert.Equal("10.215.7.1/24\n", File.ReadAllText(Path.Combine(s.Paths.ConfigRoot, ".bridges", name, "address")));

            // a parameter left out keeps its value; -Nat:$false turns NAT off
            b = Assert.IsType<Bridge>(Assert.Single(s.Invoke($"Set-VServerBridge {name} -Isolated -Nat:$false -PassThru")).BaseObject);
            Assert.Equal(new[] { "10.215.7.1/24" }, b.Addresses);
            Assert.Equal(new[] { "10.215.7.1" }, b.DnsServers);
            Assert.Equal((false, true), (b.Nat, b.Isolated));
            Assert.Matches($@"{name} +10\.215\.7\.1/24 +False +True +10\.215\.7\.1", s.Render($"Get-VServerBridge {name}"));

            s.Invoke($"Set-VServerBridge {name} -Address 10.215.7.300/24");
            Assert.Equal("InvalidBridgeAddress,VServer.Commands.SetVServerBridgeCommand", Assert.Single(s.Errors).FullyQualifiedErrorId);
            s.Errors.Clear();

            s.Invoke($"Get-VServerBridge {name} | Remove-VServerBridge");
            Assert.Empty(s.Errors);
            Assert.Empty(s.Invoke($"Get-VServerBridge {name}*"));
            s.Invoke($"Get-VServerBridge {name}");
            Assert.Equal("BridgeNotFound,VServer.Commands.GetVServerBridgeCommand", Assert.Single(s.Errors).FullyQualifiedErrorId);
        }
        finally
        {
            VServer.Runtime.Ip.TryRun("link", "delete", name);
        }
    }
}
