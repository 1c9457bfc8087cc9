using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using VServer.Config;
using VServer.Runtime;
using Xunit;

namespace VServer.Tests;

public class OciBundleTests
{
    private static readonly BundleOptions Options = new()
    {
        RootPath = "/vservers/web1",
        CgroupsPath = "/vserver/web1",
        InitHelper = "/usr/bin/tini-static",
        Architecture = Architecture.X64,
    };

    private static JsonObject Gen(GuestConfig c, BundleOptions? o = null, IOperationReporter? r = null) =>
        // through text, as the runtime reads it
        JsonNode.Parse(OciBundle.Serialize(OciBundle.Generate(c, o ?? Options, r)))!.AsObject();

    private static string[] Strings(JsonNode? n) => n!.AsArray().Select(x => (string)x!).ToArray();

    private static GuestConfig Plain(string name = "web1") => new(name) { InitStyle = InitStyle.Plain, Context = 40000 };

    [Fact]
    public void PrivateUsersJoinTheirUserNamespaceWithTheirMappingAndRaiseNoHostTakeoverWarning()
    {
        var range = new IdRange(1_000_065_536, 65536);
        var c = Plain();
        c.Capabilities.Add("CAP_SYS_ADMIN");
        var warnings = new WarningList();
        var j = Gen(c, Options with { RootPath = "/run/vservers/.users/web1/root", Users = range, UserNamespace = "/run/vservers/web1/userns" }, warnings);
        Assert.Equal("/run/vservers/.users/web1/root", (string?)j["root"]!["path"]);
        var user = j["linux"]!["namespaces"]!.AsArray().Single(n => (string)n!["type"]! == "user")!;
        Assert.Equal("/run/vservers/web1/userns", (string?)user["path"]);
        foreach (var map in new[] { "uidMappings", "gidMappings" })
        {
            var m = Assert.Single(j["linux"]![map]!.AsArray())!;
            Assert.Equal((0L, 1_000_065_536L, 65536L), ((long)m["containerID"]!, (long)m["hostID"]!, (long)m["size"]!));
        }
        // ICMP sockets for the guest's own gids: the kernel refuses a range its user namespace cannot map
        Assert.Equal("0 65535", (string?)j["linux"]!["sysctl"]!["net.ipv4.ping_group_range"]);
        // SYS_ADMIN is the guest's user namespace's, not the host's: no takeover warning
        Assert.DoesNotContain(warnings.Warnings, w => w.Contains("CAP_SYS_ADMIN", StringComparison.Ordinal));

        // without private users: no user namespace, no mapping, and the warning
        warnings = new WarningList();
        j = Gen(c, Options, warnings);
        Assert.DoesNotContain(j["linux"]!["namespaces"]!.AsArray(), n => (string)n!["type"]! == "user");
        Assert.Null(j["linux"]!["uidMappings"]);
        Assert.Equal("0 2147483647", (string?)j["linux"]!["sysctl"]!["net.ipv4.ping_group_range"]);
        Assert.Contains(warnings.Warnings, w => w.Contains("CAP_SYS_ADMIN", StringComparison.Ordinal));
    }

    [Fact]
    public void RootHostnameAndNamespaces()
    {
        var j = Gen(new GuestConfig("web1") { InitStyle = InitStyle.Plain, Hostname = "web1.example.org", Domainname = "example.org" });
        Assert.Equal("1.0.2", (string?)j["ociVersion"]);
        Assert.Equal("/vservers/web1", (string?)j["root"]!["path"]);
        Assert.False((bool)j["root"]!["readonly"]!);
        Assert.Equal("web1.example.org", (string?)j["hostname"]);
        Assert.Equal("example.org", (string?)j["domainname"]);
        var ns = j["linux"]!["namespaces"]!.AsArray().Select(n => (string)n!["type"]!).ToArray();
        Assert.Equal(new[] { "pid", "ipc", "uts", "mount", "network", "cgroup" }, ns);
        Assert.Equal("/vserver/web1", (string?)j["linux"]!["cgroupsPath"]);
    }

    [Fact]
    public void HostnameDefaultsToTheGuestName()
    {
        var j = Gen(Plain("db2"));
        Assert.Equal("db2", (string?)j["hostname"]);
        Assert.Null(j["domainname"]);
    }

    [Fact]
    public void VirtUptimeAddsTheTimeNamespaceOnlyWhereTheRuntimeHasIt()
    {
        var c = Plain();
        c.Flags.Add("virt_uptime");
        var with = Gen(c, Options with { TimeNamespace = true });
        Assert.Contains("time", with["linux"]!["namespaces"]!.AsArray().Select(n => (string)n!["type"]!));
        var warnings = new WarningList();
        var without = Gen(c, Options with { TimeNamespace = false }, warnings);
        Assert.DoesNotContain("time", without["linux"]!["namespaces"]!.AsArray().Select(n => (string)n!["type"]!));
        Assert.Contains(warnings.Warnings, w => w.Contains("virt_uptime") && w.Contains("time namespace"));
    }

    [Fact]
    public void CapabilitiesAreTheSecureDefaultWithSysBoot()
    {
        var reporter = new WarningList();
        var p = Gen(Plain(), r: reporter)["process"]!;
        var bounding = Strings(p["capabilities"]!["bounding"]);
        Assert.Equal(Capabilities.SecureDefault.Order(), bounding.Order());
        Assert.Contains("CAP_SYS_BOOT", bounding);
        Assert.DoesNotContain("CAP_SYS_ADMIN", bounding);
        Assert.DoesNotContain("CAP_MKNOD", bounding);
        Assert.DoesNotContain("CAP_NET_RAW", bounding);
        // without a user namespace these two give a guest's root the host (issue: exec takeover, handles)
        Assert.DoesNotContain("CAP_SYS_PTRACE", bounding);
        Assert.DoesNotContain("CAP_DAC_READ_SEARCH", bounding);
        Assert.Equal(bounding, Strings(p["capabilities"]!["effective"]));
        Assert.Equal(bounding, Strings(p["capabilities"]!["permitted"]));
        Assert.Empty(p["capabilities"]!["inheritable"]!.AsArray());
        Assert.Empty(p["capabilities"]!["ambient"]!.AsArray());
        Assert.Empty(reporter.Warnings);
    }

    [Theory]
    [InlineData("SYS_PTRACE", "exec")]
    [InlineData("CAP_DAC_READ_SEARCH", "file handle")]
    [InlineData("sys_admin", "mount")]
    public void ARiskyCapabilityAddedBackIsKeptAndWarnedAbout(string added, string risk)
    {
        var c = Plain();
        c.Capabilities.Add(added);
        var reporter = new WarningList();
        var bounding = Strings(Gen(c, r: reporter)["process"]!["capabilities"]!["bounding"]);
        var cap = Capabilities.Normalize(added);
        Assert.Contains(cap, bounding);
        var w = Assert.Single(reporter.Warnings);
        Assert.Contains(cap, w);
        Assert.Contains(risk, w);
        Assert.Contains("private users", w);
        Assert.Contains("-Clear Capability", w);
    }

    [Fact]
    public void TheWarningsFixKeepsTheGuestsOtherAdjustments()
    {
        var c = Plain();
        c.Capabilities.AddRange(new[] { "NET_RAW", "SYS_PTRACE", "!CHOWN" });
        var reporter = new WarningList();
        Gen(c, r: reporter);
        Assert.Contains("(Set-VServerGuest web1 -Capability 'CAP_NET_RAW','!CAP_CHOWN')", Assert.Single(reporter.Warnings));
    }

    [Fact]
    public void BcapabilitiesAddAndRemove()
    {
        var c = Plain();
        c.Capabilities.AddRange(new[] { "CAP_NET_RAW", "!CAP_CHOWN" });
        var bounding = Strings(Gen(c)["process"]!["capabilities"]!["bounding"]);
        Assert.Contains("CAP_NET_RAW", bounding);
        Assert.DoesNotContain("CAP_CHOWN", bounding);
    }

    private static JsonNode[] Rules(GuestConfig c) => Gen(c)["linux"]!["seccomp"]!["syscalls"]!.AsArray().Select(r => r!).ToArray();

    private static string[] Refused(GuestConfig c) =>
        Rules(c).Where(r => r["args"] is null).SelectMany(r => Strings(r["names"])).ToArray();

    private static ulong[] RefusedCloneFlags(GuestConfig c, string call) => Rules(c)
        .Where(r => Strings(r["names"]).Contains(call) && r["args"] is not null)
        .Select(r => (ulong)r["args"]![0]!["value"]!).ToArray();

    [Fact]
    public void SeccompRefusesKexecAndHostEscapes()
    {
        var s = Gen(Plain())["linux"]!["seccomp"]!;
        Assert.Equal("SCMP_ACT_ALLOW", (string?)s["defaultAction"]);
        Assert.Equal(new[] { "SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32" }, Strings(s["architectures"]));
        Assert.All(s["syscalls"]!.AsArray(), r => Assert.Equal("SCMP_ACT_ERRNO", (string?)r!["action"]));
        var refused = Refused(Plain());
        foreach (var call in new[] { "kexec_load", "kexec_file_load", "open_by_handle_at", "keyctl", "bpf", "mount", "setns", "init_module", "io_uring_setup", "syslog", "kcmp" })
        {
            Assert.Contains(call, refused);
        }
        // unshare without SYS_ADMIN is refused outright; ptrace of the guest's own processes stays (as in Docker)
        Assert.Contains("unshare", refused);
        Assert.DoesNotContain("ptrace", refused);
        Assert.DoesNotContain("reboot", refused);
    }

    [Fact]
    public void ABtrfsSubvolumeOrSnapshotOfTheGuestsOwnIsRefusedWhateverItsHighBits()
    {
        var c = Plain();
        c.Capabilities.Add("SYS_ADMIN"); // whatever the guest may do otherwise
        var ioctls = Rules(c).Where(r => Strings(r["names"]).SequenceEqual(new[] { "ioctl" })).ToList();
        // BTRFS_IOC_SNAP_CREATE, SUBVOL_CREATE and their _V2 (linux/btrfs.h), each on the low 32 bits only
        Assert.Equal(new ulong[] { 0x50009401, 0x5000940E, 0x50009417, 0x50009418 }, ioctls.Select(r => (ulong)r["args"]![0]!["valueTwo"]!));
        Assert.All(ioctls, r =>
        {
            Assert.Equal(1, (int)r["args"]![0]!["index"]!);
            Assert.Equal(0xFFFFFFFFUL, (ulong)r["args"]![0]!["value"]!);
            Assert.Equal("SCMP_CMP_MASKED_EQ", (string?)r["args"]![0]!["op"]);
            Assert.Equal(SeccompProfile.EPERM, (int)r["errnoRet"]!);
        });
        Assert.DoesNotContain("ioctl", Refused(c)); // every other ioctl goes through
    }

    [Fact]
    public void NoGuestGetsANewUserNamespaceAndClone3FallsBack()
    {
        var c = Plain();
        c.Capabilities.Add("SYS_ADMIN"); // even a guest that may mount
        Assert.Contains(SeccompProfile.CLONE_NEWUSER, RefusedCloneFlags(c, "clone"));
        Assert.Contains(SeccompProfile.CLONE_NEWUSER, RefusedCloneFlags(c, "unshare"));
        Assert.DoesNotContain("unshare", Refused(c)); // other namespaces are the capability's to allow
        Assert.DoesNotContain("mount", Refused(c));
        Assert.Equal(new[] { SeccompProfile.CLONE_NEWUSER }, RefusedCloneFlags(c, "clone"));
        var clone3 = Assert.Single(Rules(c), r => Strings(r["names"]).SequenceEqual(new[] { "clone3" }));
        Assert.Equal(SeccompProfile.ENOSYS, (int)clone3["errnoRet"]!);
        // without SYS_ADMIN every namespace flag of clone is refused
        Assert.Equal(SeccompProfile.CloneNamespaceFlags.Order(), RefusedCloneFlags(Plain(), "clone").Order());
    }

    [Fact]
    public void ACapabilityUnlocksItsCallsAsInDockersProfile()
    {
        var c = Plain();
        c.Capabilities.AddRange(new[] { "SYS_TIME", "SYS_PTRACE" });
        var refused = Refused(c);
        Assert.DoesNotContain("settimeofday", refused);
        Assert.DoesNotContain("kcmp", refused);
        Assert.Contains("settimeofday", Refused(Plain()));
        Assert.Contains("open_by_handle_at", refused); // never unlocked
    }

    [Fact]
    public void LockFlagRefusesNewNamespaces()
    {
        var c = Plain();
        c.Capabilities.Add("SYS_ADMIN");
        c.Flags.Add("lock");
        var refused = Refused(c);
        Assert.Contains("unshare", refused);
        Assert.Contains("setns", refused);
        var cloneRules = Rules(c).Where(r => Strings(r["names"]).Contains("clone")).ToArray();
        Assert.All(cloneRules, r => Assert.Equal("SCMP_CMP_MASKED_EQ", (string?)r["args"]![0]!["op"]));
        Assert.Equal(SeccompProfile.CloneNamespaceFlags.Order(), RefusedCloneFlags(c, "clone").Order());
    }

    [Fact]
    public void ProcAndSysAreMaskedAndReadOnlyLikeRunc()
    {
        var l = Gen(Plain())["linux"]!;
        var masked = Strings(l["maskedPaths"]);
        Assert.Contains("/proc/kcore", masked);
        Assert.Contains("/proc/keys", masked);
        Assert.Contains("/sys/firmware", masked);
        var ro = Strings(l["readonlyPaths"]);
        Assert.Contains("/proc/sysrq-trigger", ro);
        Assert.Contains("/proc/sys", ro);
    }

    [Fact]
    public void DevicesAreDeniedExceptTheAllowlist()
    {
        var devices = Gen(Plain())["linux"]!["resources"]!["devices"]!.AsArray();
        Assert.False((bool)devices[0]!["allow"]!);
        Assert.Equal("rwm", (string?)devices[0]!["access"]);
        Assert.Null(devices[0]!["major"]);
        var allowed = devices.Skip(1).ToArray();
        Assert.All(allowed, d => Assert.Equal("c", (string?)d!["type"]));
        Assert.Contains(allowed, d => (int)d!["major"]! == 1 && (int?)d["minor"] == 3); // /dev/null
        Assert.DoesNotContain(allowed, d => (int)d!["major"]! == 8); // no disks
    }

    [Fact]
    public void RlimitsInTheBundleAndCgroupLimitsAboveIt()
    {
        var c = Plain();
        c.ResourceLimits.Add(ResourceLimit.Parse("nofile", "1024:4096"));
        c.ResourceLimits.Add(new ResourceLimit("core", 0, null));
        c.MemoryLimit = 256L << 20;
        c.CpuLimit = 1.5;
        c.ProcessLimit = 200;
        var j = Gen(c);
        var rl = j["process"]!["rlimits"]!.AsArray();
        Assert.Contains(rl, r => (string?)r!["type"] == "RLIMIT_NOFILE" && (ulong)r["soft"]! == 1024 && (ulong)r["hard"]! == 4096);
        Assert.Contains(rl, r => (string?)r!["type"] == "RLIMIT_CORE" && (ulong)r["soft"]! == 0 && (ulong)r["hard"]! == 0);
        // the runtime's cgroup (the guest's cgroup namespace root) holds no limit the guest could rewrite
        var res = j["linux"]!["resources"]!.AsObject();
        Assert.Equal(new[] { "devices" }, res.Select(kv => kv.Key).ToArray());
        var limits = OciBundle.Limits(c, swapLimit: true);
        Assert.Equal(256L << 20, limits.Memory);
        Assert.Equal(256L << 20, limits.MemoryAndSwap);
        Assert.Equal(150000, limits.CpuQuota);
        Assert.Equal(100000, limits.CpuPeriod);
        Assert.Equal(200, limits.Pids);
        Assert.Null(OciBundle.Limits(c, swapLimit: false).MemoryAndSwap);
        Assert.Equal("/vserver/web1/payload", Cgroups.PayloadOf(Cgroups.PathFor(new VServerPaths("/etc/vservers", "/vservers", "/run/vservers"), "web1")));
    }

    [Fact]
    public void EveryGuestHasAProcessLimit()
    {
        var limits = OciBundle.Limits(Plain(), swapLimit: true);
        Assert.Equal(GuestConfig.DefaultProcessLimit, limits.Pids);
        Assert.Equal(16384, GuestConfig.DefaultProcessLimit);
        Assert.Null(limits.Memory);
        Assert.Null(limits.CpuQuota);
    }

    [Fact]
    public void NprocFlagTurnsTheNprocLimitIntoThePidsLimit()
    {
        var c = Plain();
        c.ResourceLimits.Add(ResourceLimit.Parse("nproc", "64"));
        var without = Gen(c);
        Assert.Contains(without["process"]!["rlimits"]!.AsArray(), r => (string?)r!["type"] == "RLIMIT_NPROC");
        Assert.Equal(GuestConfig.DefaultProcessLimit, OciBundle.Limits(c, true).Pids);
        c.Flags.Add("nproc");
        var with = Gen(c);
        Assert.DoesNotContain(with["process"]!["rlimits"]!.AsArray(), r => (string?)r!["type"] == "RLIMIT_NPROC");
        Assert.Equal(64, OciBundle.Limits(c, true).Pids);
    }

    [Fact]
    public void InitStyles()
    {
        Assert.Equal(new[] { "/sbin/init" }, Strings(Gen(Plain())["process"]!["args"]));
        var cmd = new GuestConfig("c") { InitStyle = InitStyle.Command, StartCommand = new[] { "/usr/sbin/httpd", "-f" } };
        Assert.Equal(new[] { "/usr/sbin/httpd", "-f" }, Strings(Gen(cmd)["process"]!["args"]));

        var sysv = Gen(new GuestConfig("s") { InitStyle = InitStyle.Sysv });
        var args = Strings(sysv["process"]!["args"]);
        Assert.Equal(OciBundle.InitHelperTarget, args[0]);
        Assert.Equal(new[] { "/etc/init.d/rc", "3" }, args[^2..]);
        var helper = sysv["mounts"]!.AsArray().Single(m => (string?)m!["destination"] == OciBundle.InitHelperTarget)!;
        Assert.Equal("/usr/bin/tini-static", (string?)helper["source"]);
        Assert.Contains("ro", Strings(helper["options"]));
        Assert.Equal(new[] { "/etc/init.d/rc", "6" }, OciBundle.StopCommand(new GuestConfig("s")));
        Assert.Equal(2, OciBundle.StopSignal(new GuestConfig("p") { InitStyle = InitStyle.Plain }));

        var e = Assert.Throws<VServerException>(() => Gen(new GuestConfig("s"), Options with { InitHelper = null }));
        Assert.Equal("InitHelperNotFound", e.ErrorId);
    }

    [Fact]
    public void FstabLinesBecomeMountsAndReplaceDefaults()
    {
        var c = Plain();
        c.Fstab.AddRange(new[]
        {
            "# util-vserver's default",
            "none /tmp tmpfs size=16m,mode=1777 0 0",
            "/srv/data /data none bind,ro 0 0",
            "none /dev/shm tmpfs size=8m 0 0",
        });
        var mounts = Gen(c)["mounts"]!.AsArray();
        var tmp = mounts.Single(m => (string?)m!["destination"] == "/tmp")!;
        Assert.Equal("tmpfs", (string?)tmp["type"]);
        Assert.Equal(new[] { "size=16m", "mode=1777" }, Strings(tmp["options"]));
        var data = mounts.Single(m => (string?)m!["destination"] == "/data")!;
        Assert.Equal("bind", (string?)data["type"]);
        Assert.Equal("/srv/data", (string?)data["source"]);
        Assert.Equal(new[] { "bind", "ro" }, Strings(data["options"]));
        var shm = mounts.Where(m => (string?)m!["destination"] == "/dev/shm").ToArray();
        Assert.Single(shm);
        Assert.Equal(new[] { "size=8m" }, Strings(shm[0]!["options"]));
        Assert.Contains(mounts, m => (string?)m!["destination"] == "/proc" && (string?)m["type"] == "proc");
    }

    [Theory]
    [InlineData("none /tmp")]
    [InlineData("none tmp tmpfs defaults 0 0")]
    [InlineData("none /x/../../etc tmpfs defaults 0 0")]
    [InlineData("data /data none bind 0 0")]
    [InlineData("none /data none defaults 0 0")]
    public void BadFstabLinesAreRefusedByName(string line)
    {
        var c = Plain();
        c.Fstab.Add(line);
        var e = Assert.Throws<VServerException>(() => OciBundle.CheckStartable(c));
        Assert.Equal("InvalidFstab", e.ErrorId);
        Assert.Contains(line.Trim(), e.Message);
    }

    [Fact]
    public void UnknownFlagsReadFromDiskAreRefusedAtStart()
    {
        var c = Plain();
        c.Flags.Add("hide_netif");
        var e = Assert.Throws<VServerException>(() => Gen(c));
        Assert.Equal("UnsupportedFlag", e.ErrorId);
        Assert.Contains("hide_netif", e.Message);
    }

    [Fact]
    public void AnnotationsNameTheGuest()
    {
        var a = Gen(Plain())["annotations"]!;
        Assert.Equal("web1", (string?)a["org.vserver.name"]);
        Assert.Equal("40000", (string?)a["org.vserver.context"]);
    }
}
