using System.Net;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

public class ConfigDirectoryTests
{
    private static void Put(string dir, string rel, string content)
    {
        var p = Path.Combine(dir, rel);
        Directory.CreateDirectory(Path.GetDirectoryName(p)!);
        File.WriteAllText(p, content);
    }

    /// <summary>A directory as util-vserver writes it (seed 003, Beispiel 2 and Abbildung 4).</summary>
    [Fact]
    public void ReadsAnExistingUtilVserverDirectory()
    {
        using var t = new TempRoots();
        var dir = Path.Combine(t.Paths.ConfigRoot, "ftp");
        Put(dir, "context", "42\n");
        Put(dir, "flags", "lock\nnproc\n# comment\nfakeinit\n");
        Put(dir, "bcapabilities", "NET_RAW\n!CHOWN\n");
        Put(dir, "interfaces/dev", "eth0\n");
        Put(dir, "interfaces/prefix", "23\n");
        Put(dir, "interfaces/00/ip", "192.168.5.32\n");
        Put(dir, "interfaces/00/name", "ftp0\n");
        Put(dir, "interfaces/01/ip", "192.168.5.64\n");
        Put(dir, "interfaces/01/mask", "255.255.255.0\n");
        Put(dir, "interfaces/01/nodev", "");
        Put(dir, "uts/nodename", "ftp.nowhe.re\n");
        Put(dir, "rlimits/nproc.hard", "200\n");
        Put(dir, "rlimits/nproc.soft", "200\n");
        Put(dir, "rlimits/as.min", "1000\n");
        Put(dir, "nice", "5\n");
        Put(dir, "apps/init/mark", "default\n");
        Put(dir, "apps/init/style", "sysv\n");
        Put(dir, "apps/init/cmd.start", "/etc/rc.d/rc\n3\n");
        Put(dir, "fstab", "none /proc proc defaults 0 0\n");
        File.CreateSymbolicLink(Path.Combine(dir, "vdir"), "/srv/guests/ftp");

        var c = ConfigDirectory.Read(dir, "ftp", t.Paths);

        Assert.Equal(42, c.Context);
        Assert.Equal(new[] { "lock", "nproc", "fakeinit" }, c.Flags);
        Assert.Equal(new[] { "CAP_NET_RAW", "!CAP_CHOWN" }, c.Capabilities);
        Assert.Equal(2, c.Interfaces.Count);
        Assert.Equal(new InterfaceSpec(IPAddress.Parse("192.168.5.32"), 23, "eth0", "ftp0"), c.Interfaces[0]);
        Assert.Equal(new InterfaceSpec(IPAddress.Parse("192.168.5.64"), 24, "eth0", null, noDev: true), c.Interfaces[1]);
        Assert.Equal("ftp.nowhe.re", c.Hostname);
        Assert.Equal(new[] { new ResourceLimit("nproc", 200, 200) }, c.ResourceLimits);
        Assert.Equal(5, c.Nice);
        Assert.True(c.OnBoot);
        Assert.Equal(InitStyle.Sysv, c.InitStyle);
        Assert.Equal(new[] { "/etc/rc.d/rc", "3" }, c.StartCommand);
        Assert.Equal(new[] { "none /proc proc defaults 0 0" }, c.Fstab);
        Assert.Equal("/srv/guests/ftp", c.Root);
    }

    [Fact]
    public void WriteThenReadRoundTrips()
    {
        using var t = new TempRoots();
        var dir = Path.Combine(t.Paths.ConfigRoot, "web");
        var c = new GuestConfig("web")
        {
            Context = 1000,
            Hostname = "web",
            Domainname = "example.com",
            Interfaces = { InterfaceSpec.Parse("eth0:10.0.0.2/24"), InterfaceSpec.Parse("2001:db8::2/64") },
            Flags = { "lock", "nproc" },
            Capabilities = { "CAP_NET_RAW", "!CAP_CHOWN" },
            InitStyle = InitStyle.Command,
            StartCommand = new[] { "/bin/sh", "-c", "sleep 1000" },
            StopCommand = new[] { "/bin/kill", "1" },
            MemoryLimit = 256L << 20,
            CpuLimit = 1.5,
            ProcessLimit = 300,
            Nice = -3,
            ResourceLimits = { new ResourceLimit("nofile", 1024, 4096), new ResourceLimit("core", 0, 0) },
            OnBoot = true,
            Fstab = { "tmpfs /tmp tmpfs size=16m 0 0" },
        };
        ConfigDirectory.Write(dir, c, "/vservers/web");
        Assert.Equal("1000", File.ReadAllText(Path.Combine(dir, "context")).Trim());
        Assert.Equal("150000 100000", File.ReadAllText(Path.Combine(dir, "cgroup/cpu.max")).Trim());
        Assert.Equal("1024", File.ReadAllText(Path.Combine(dir, "rlimits/nofile.soft")).Trim());
        Assert.Equal("/bin/sh\n-c\nsleep 1000\n", File.ReadAllText(Path.Combine(dir, "apps/init/cmd.start")));

        var r = ConfigDirectory.Read(dir, "web", t.Paths);
        Assert.Equal(ConfigDirectory.Render(c), ConfigDirectory.Render(r));
        Assert.Equal("/vservers/web", r.Root);
    }

    [Fact]
    public void WriteRemovesUnsetSettingsButKeepsForeignFiles()
    {
        using var t = new TempRoots();
        var dir = Path.Combine(t.Paths.ConfigRoot, "web");
        var c = new GuestConfig("web") { Context = 7, MemoryLimit = 64L << 20, Interfaces = { InterfaceSpec.Parse("10.0.0.1/8"), InterfaceSpec.Parse("10.0.0.2/8") } };
        ConfigDirectory.Write(dir, c, "/vservers/web");
        Put(dir, "apps/vunify/exclude", "/srv\n");
        c.MemoryLimit = null;
        c.Interfaces.RemoveAt(1);
        ConfigDirectory.Write(dir, c, "/vservers/web");
        Assert.False(File.Exists(Path.Combine(dir, "cgroup/memory.max")));
        Assert.False(Directory.Exists(Path.Combine(dir, "interfaces/1")));
        Assert.True(File.Exists(Path.Combine(dir, "interfaces/0/ip")));
        Assert.True(File.Exists(Path.Combine(dir, "apps/vunify/exclude")));
    }

    [Fact]
    public void CorruptValuesAreReportedWithFileAndValue()
    {
        using var t = new TempRoots();
        var dir = Path.Combine(t.Paths.ConfigRoot, "bad");
        Put(dir, "context", "forty\n");
        var e = Assert.Throws<VServerException>(() => ConfigDirectory.Read(dir, "bad", t.Paths));
        Assert.Equal("InvalidConfiguration", e.ErrorId);
        Assert.Contains("forty", e.Message);
        Assert.Contains("context", e.Message);
    }

    [Fact]
    public void AtomicWriteLeavesNoTemporaryFiles()
    {
        using var t = new TempRoots();
        var p = Path.Combine(t.Base, "x", "value");
        AtomicFile.WriteAllText(p, "1\n");
        AtomicFile.WriteAllText(p, "2\n");
        Assert.Equal("2\n", File.ReadAllText(p));
        Assert.Single(Directory.GetFiles(Path.Combine(t.Base, "x")));
    }
}
