using System.Globalization;
using VServer.Config;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>The attack programs in tests/attacks, built once per test run with gcc -static.</summary>
internal static class Attacks
{
    private static readonly Lazy<string> Dir = new(Build);

    public static string Path(string name) => System.IO.Path.Combine(Dir.Value, name);

    private static string Build()
    {
        var gcc = HostProcess.Find("gcc") ?? throw new InvalidOperationException("the red-team tests build their attack programs with gcc: apt-get install gcc libc6-dev");
        var src = System.IO.Path.Combine(TestEnvironment.RepoRoot, "tests", "attacks");
        var dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "vserver-attacks-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(dir, recursive: true);
        foreach (var c in Directory.GetFiles(src, "*.c"))
        {
            var r = HostProcess.Run(gcc, new[] { "-static", "-O2", "-o", System.IO.Path.Combine(dir, System.IO.Path.GetFileNameWithoutExtension(c)), c });
            if (r.ExitCode != 0)
            {
                throw new InvalidOperationException($"gcc {c}: {r.StandardError}");
            }
        }
        return dir;
    }

    /// <summary>Puts attack programs into a stopped guest's /bin (host side, in-root, as an administrator would copy a file).</summary>
    public static void Install(LiveGuest g, params string[] names)
    {
        using var fs = GuestRootFs.Open(g.Root);
        foreach (var n in names)
        {
            fs.CopyFromHost(Path(n), "/bin/" + n, 0x1ED);
        }
    }
}

/// <summary>A reporter that keeps the warnings.</summary>
internal sealed class WarningList : IOperationReporter
{
    public List<string> Warnings { get; } = new();
    public void Progress(string activity, string status, int percent) { }
    public void Warning(string message) { lock (Warnings) Warnings.Add(message); }
    public void Verbose(string message) { }
}

/// <summary>
/// The red team: each attack runs from inside a guest as its root. Each first runs against a guest
/// made weak on purpose (a capability added back, a refusal switched off), where it must succeed —
/// so the test is shown able to see it — and then against the default guest, which must hold with
/// nothing written or changed on the host.
/// </summary>
[Collection("guests")]
public class RedTeamTests
{
    // ---------------------------------------------------------------- exec takeover through ptrace

    private static (int Bytes, int Type, string Hex) HandleOf(string dir)
    {
        var r = HostProcess.Run(Attacks.Path("handle"), new[] { dir });
        Assert.True(r.ExitCode == 0, r.StandardError);
        var f = r.StandardOutput.Trim().Split(' ');
        return (int.Parse(f[0], CultureInfo.InvariantCulture), int.Parse(f[1], CultureInfo.InvariantCulture), f[2]);
    }

    /// <summary>
    /// Starts ptrace_exec in the guest, then lets the host enter the guest (<paramref name="enter"/>:
    /// exec, enter or a Sysv stop) until the attacker has a verdict. Returns it and whether the host
    /// directory got the attacker's file.
    /// </summary>
    private static (string Verdict, bool HostWritten) PtraceDuringExec(LiveGuest g, Action<LiveGuest> enter, int tries)
    {
        var hostDir = Path.Combine(g.Roots.Base, "host-only");
        Directory.CreateDirectory(hostDir);
        var (bytes, type, hex) = HandleOf(hostDir);
        var marker = "pwned-" + g.Name;
        g.Sh($"/bin/ptrace_exec 60 {bytes} {type} {hex} {marker} > /tmp/attack.out 2>&1 &");
        var outFile = Path.Combine(g.Root, "tmp", "attack.out");
        string Verdict() => File.Exists(outFile) ? File.ReadAllText(outFile).Trim() : "";
        for (var i = 0; i < tries && Verdict().Length == 0; i++)
        {
            enter(g);
        }
        LiveGuest.WaitFor(() => Verdict().Length > 0, 10);
        return (Verdict(), File.Exists(Path.Combine(hostDir, marker)));
    }

    private static void ExecTrue(LiveGuest g)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20)); // a hijacked exec may never end
        try
        {
            g.Runtime.Exec(g.Name, new ExecRequest(new[] { "/bin/true" }), null, null, timeout.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }

    /// <remarks>
    /// The weak guest gets back both capabilities the default leaves out, and its filter lets
    /// open_by_handle_at through. With SYS_PTRACE alone the attack wins only when it attaches before
    /// the exec has loaded the guest's seccomp filter, which refuses open_by_handle_at to every guest:
    /// vserver-ns loads it first thing in the guest (a runtime's exec loads it last, before its exec).
    /// </remarks>
    [GuestFact]
    public void PtraceOfTheRuntimesInitDuringExecTakesTheHostOnlyWhenSysPtraceIsAddedBackAndTheFilterWeakened()
    {
        TestSeams.AllowedSyscalls = new[] { "open_by_handle_at" };
        using (var weak = new LiveGuest(c => { c.Capabilities.Add("CAP_SYS_PTRACE"); c.Capabilities.Add("CAP_DAC_READ_SEARCH"); }, start: false))
        {
            Attacks.Install(weak, "ptrace_exec");
            var warnings = new WarningList();
            weak.Runtime.Start(weak.Name, warnings);
            Assert.Contains(warnings.Warnings, w => w.Contains("CAP_SYS_PTRACE", StringComparison.Ordinal) && w.Contains("take over the host", StringComparison.Ordinal));
            var (verdict, written) = PtraceDuringExec(weak, ExecTrue, 200);
            Assert.StartsWith("PWNED", verdict);
            Assert.True(written, "the attacker said PWNED but no file appeared on the host");
        }
        TestSeams.AllowedSyscalls = Array.Empty<string>();
        using (var g = new LiveGuest(start: false))
        {
            Attacks.Install(g, "ptrace_exec");
            var warnings = new WarningList();
            g.Runtime.Start(g.Name, warnings);
            Assert.Empty(warnings.Warnings);
            var (verdict, written) = PtraceDuringExec(g, ExecTrue, 200);
            Assert.StartsWith("REFUSED", verdict); // it saw the runtime's init and ptrace said EPERM
            Assert.EndsWith(" 1", verdict);
            Assert.False(written);
        }
    }

    [GuestFact]
    public void PtraceDuringEnterAndASysvStopIsRefusedByDefault()
    {
        using (var g = new LiveGuest(start: false))
        {
            Attacks.Install(g, "ptrace_exec");
            g.Runtime.Start(g.Name);
            // Enter: an interactive shell; with no terminal on standard input it reads end-of-file and leaves
            Action<LiveGuest> enter = Console.IsInputRedirected ? x => x.Runtime.Enter(x.Name, "/bin/sh") : ExecTrue;
            var (verdict, written) = PtraceDuringExec(g, enter, 100);
            AssertRefusedOrUnseen(verdict);
            Assert.False(written);
        }
        using (var sysv = new LiveGuest(c => c.InitStyle = InitStyle.Sysv, start: false))
        {
            Attacks.Install(sysv, "ptrace_exec");
            using (var fs = GuestRootFs.Open(sysv.Root))
            {
                fs.WriteText("/etc/init.d/rc", "#!/bin/sh\nexit 0\n", 0x1ED);
            }
            sysv.Runtime.Start(sysv.Name);
            // the stop command (/etc/init.d/rc 6) is an exec into the guest
            var (verdict, written) = PtraceDuringExec(sysv, x => x.Runtime.Stop(x.Name, TimeSpan.FromSeconds(5)), 1);
            Assert.Equal(GuestState.Stopped, sysv.Runtime.Status(sysv.Name).State);
            AssertRefusedOrUnseen(verdict);
            Assert.False(written);
        }
    }

    /// <summary>
    /// The attacker saw the process entering the guest and ptrace refused it; or, vserver-ns's window
    /// before the command's exec being some 100 µs, it never caught one. Attached (FAILED …) or PWNED fails.
    /// </summary>
    private static void AssertRefusedOrUnseen(string verdict) =>
        Assert.True(verdict.StartsWith("REFUSED", StringComparison.Ordinal) || verdict is "" or "UNSEEN", "the attacker said: " + verdict);

    [GuestFact]
    public void OpenByHandleOfAHostDirectoryFromTheGuestIsRefused()
    {
        string Attack(LiveGuest g)
        {
            var hostDir = Path.Combine(g.Roots.Base, "host-only");
            Directory.CreateDirectory(hostDir);
            File.WriteAllText(Path.Combine(hostDir, "host-secret"), "x");
            var (bytes, type, hex) = HandleOf(hostDir);
            return g.Exec("/bin/handle", "open", bytes.ToString(CultureInfo.InvariantCulture), type.ToString(CultureInfo.InvariantCulture), hex).Out.Trim();
        }
        // weak: DAC_READ_SEARCH added back and the call let through the filter
        TestSeams.AllowedSyscalls = new[] { "open_by_handle_at" };
        try
        {
            using var weak = new LiveGuest(c => c.Capabilities.Add("CAP_DAC_READ_SEARCH"), start: false);
            Attacks.Install(weak, "handle");
            var warnings = new WarningList();
            weak.Runtime.Start(weak.Name, warnings);
            Assert.Contains(warnings.Warnings, w => w.Contains("CAP_DAC_READ_SEARCH", StringComparison.Ordinal));
            Assert.Equal("OPENED host-secret", Attack(weak));
        }
        finally
        {
            TestSeams.AllowedSyscalls = Array.Empty<string>();
        }
        using (var capable = new LiveGuest(c => c.Capabilities.Add("CAP_DAC_READ_SEARCH"), start: false))
        {
            Attacks.Install(capable, "handle");
            capable.Runtime.Start(capable.Name, new WarningList());
            Assert.Equal("REFUSED 1", Attack(capable)); // the filter holds even with the capability
        }
        using var g = new LiveGuest(start: false);
        Attacks.Install(g, "handle");
        g.Runtime.Start(g.Name);
        Assert.Equal("REFUSED 1", Attack(g));
    }

    // ---------------------------------------------------------------- a guest lifting its own limits

    [GuestFact]
    public void ANestedUserNamespaceCannotLiftTheGuestsLimits()
    {
        void Configure(GuestConfig c)
        {
            c.ProcessLimit = 50;
            c.MemoryLimit = 64L << 20;
            c.CpuLimit = 0.5;
        }
        string[] Limits(LiveGuest g) => new[] { ("pids", "pids.max"), ("memory", "memory.limit_in_bytes"), ("cpu", "cpu.cfs_quota_us") }
            .Select(x => File.ReadAllText(Path.Combine(Cgroups.Hierarchies()[x.Item1] + g.Cgroup, x.Item2)).Trim()).ToArray();
        var expected = new[] { "50", (64L << 20).ToString(CultureInfo.InvariantCulture), "50000" };

        TestSeams.AllowUserNamespaces = true; // weak: the refusals switched off (and mount let through, as before)
        TestSeams.AllowedSyscalls = new[] { "mount" };
        try
        {
            using var weak = new LiveGuest(Configure, start: false);
            Attacks.Install(weak, "userns_cgroup", "forkbomb");
            weak.Runtime.Start(weak.Name);
            var r = weak.Exec("/bin/userns_cgroup");
            Assert.Contains("WROTE pids.max", r.Out); // it got in and rewrote the limit files it can see ...
            Assert.Contains("WROTE memory.limit_in_bytes", r.Out);
            Assert.Equal(expected, Limits(weak)); // ... which are not the limits: those live one level up
            Assert.Contains("FORKED 4", weak.Exec("/bin/forkbomb", "200").Out); // 50 in all, with init, sh and forkbomb
        }
        finally
        {
            TestSeams.AllowUserNamespaces = false;
            TestSeams.AllowedSyscalls = Array.Empty<string>();
        }

        using var g = new LiveGuest(Configure, start: false);
        Attacks.Install(g, "userns_cgroup");
        g.Runtime.Start(g.Name);
        var d = g.Exec("/bin/userns_cgroup");
        Assert.Equal("UNSHARE-REFUSED 1", d.Out.Trim());
        Assert.Equal(expected, Limits(g));
    }

    [GuestFact]
    public void AForkBombInADefaultGuestStopsAtItsProcessLimit()
    {
        // weak: a guest made with a process limit above the default gets more than the default
        using (var weak = new LiveGuest(c => c.ProcessLimit = GuestConfig.DefaultProcessLimit + 600, start: false))
        {
            Attacks.Install(weak, "forkbomb");
            weak.Runtime.Start(weak.Name);
            var r = weak.Exec("/bin/forkbomb", (GuestConfig.DefaultProcessLimit + 100).ToString(CultureInfo.InvariantCulture));
            Assert.Equal($"FORKED {GuestConfig.DefaultProcessLimit + 100} 0", r.Out.Trim());
        }
        using var g = new LiveGuest(start: false);
        Attacks.Install(g, "forkbomb");
        g.Runtime.Start(g.Name);
        var pidsMax = Path.Combine(Cgroups.Hierarchies()["pids"] + g.Cgroup, "pids.max");
        Assert.Equal("16384", File.ReadAllText(pidsMax).Trim());
        var d = g.Exec("/bin/forkbomb", "100000").Out.Trim().Split(' ');
        Assert.Equal("FORKED", d[0]);
        Assert.InRange(int.Parse(d[1], CultureInfo.InvariantCulture), 16000, GuestConfig.DefaultProcessLimit);
        Assert.Equal("11", d[2]); // EAGAIN: the cgroup said no
        // the host still forks
        Assert.Equal(0, HostProcess.Run("/bin/true", Array.Empty<string>()).ExitCode);
        Assert.Equal(GuestConfig.DefaultProcessLimit, g.Store.Get(g.Name).ProcessLimit);
    }

    // ---------------------------------------------------------------- host files through a guest's tree

    [GuestFact]
    public void CloningARunningGuestThatSwapsADirectoryForAHostSymlinkCopiesNoHostFile()
    {
        using var source = new LiveGuest(start: false);
        var secret = Path.Combine(source.Roots.Base, "host-secret");
        Directory.CreateDirectory(secret);
        File.WriteAllText(Path.Combine(secret, "shadow-copy"), "host only");
        Attacks.Install(source, "swapper");
        using (var fs = GuestRootFs.Open(source.Root))
        {
            for (var i = 0; i < 200; i++)
            {
                fs.WriteText($"/data/d/f{i}", "guest file");
            }
            fs.Symlink(secret, "/data/l");
        }
        source.Runtime.Start(source.Name);
        source.Sh("/bin/swapper /data/d /data/l > /dev/null 2>&1 &");

        bool LeakedInto(string clone)
        {
            var root = source.Store.RootOf(source.Store.ReadConfig(clone));
            // never following the clone's own symlinks (which are harmless data in the guest)
            return Directory.EnumerateFiles(root, "shadow-copy", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = FileAttributes.ReparsePoint }).Any();
        }
        var builder = () => Build.RootBuilders.For(BuildMethod.Clone, source: source.Store.ResolveCloneSource(source.Name));

        TestSeams.CloneWithoutFreeze = true; // weak: the copy races the guest
        var leaked = false;
        try
        {
            for (var i = 0; i < 30 && !leaked; i++)
            {
                var name = $"w{i}" + source.Name;
                try
                {
                    source.Store.Create(new GuestConfig(name) { InitStyle = InitStyle.Plain }, builder());
                }
                catch (VServerException e) when (e.ErrorId == "CloneFailed")
                {
                    // the copy listed the host directory, then lost the race: the host's names reached it
                    leaked = e.Message.Contains("shadow-copy", StringComparison.Ordinal);
                    continue;
                }
                leaked = LeakedInto(name);
                source.Store.Remove(name);
            }
        }
        finally
        {
            TestSeams.CloneWithoutFreeze = false;
        }
        Assert.True(leaked, "the weak clone never followed the swapped symlink: the test cannot see the attack");

        for (var i = 0; i < 10; i++)
        {
            var name = $"d{i}" + source.Name;
            source.Store.Create(new GuestConfig(name) { InitStyle = InitStyle.Plain }, builder()); // never fails: the tree holds still
            Assert.False(LeakedInto(name), "a clone of the default guest holds a host file");
            source.Store.Remove(name);
        }
        Assert.Equal(GuestState.Running, source.Runtime.Status(source.Name).State); // thawed again
        Assert.Equal("host only", File.ReadAllText(Path.Combine(secret, "shadow-copy")));
    }

    [GuestFact]
    public void ADevSymlinkToAHostDirectoryIsRefusedAtStart()
    {
        using var g = new LiveGuest(start: false);
        var hostDev = Path.Combine(g.Roots.Base, "host-dir");
        Directory.CreateDirectory(hostDev);
        File.WriteAllText(Path.Combine(hostDev, "ptmx"), "host file");
        using (var fs = GuestRootFs.Open(g.Root))
        {
            SafeRemove.RemoveTree(Path.Combine(g.Root, "dev"));
            fs.Symlink(hostDev, "/dev");
        }
        string HostDir() => string.Join(",", new DirectoryInfo(hostDev).EnumerateFileSystemInfos()
            .Select(i => i.Name + (i.LinkTarget is string t ? "->" + t : i is FileInfo f ? ":" + File.ReadAllText(f.FullName) : "/")).Order());
        var before = HostDir();

        // weak: the runtime is handed the tree as it is, and the runtime is runc, which resolves the
        // link on the host (crun resolves it in the root and so refuses on its own: VServer's check
        // is what holds on every runtime)
        Assert.True(HostProcess.Find("runc") is not null, "runc is needed to show the attack without VServer's check");
        TestSeams.SkipRootPreparation = true;
        Environment.SetEnvironmentVariable("VSERVER_RUNTIME", "runc");
        try
        {
            try
            {
                g.Runtime.Start(g.Name);
            }
            catch (VServerException)
            {
            }
            Assert.NotEqual(before, HostDir()); // the runtime wrote into the host directory
            if (g.Runtime.Status(g.Name).State == GuestState.Running)
            {
                g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(2));
            }
        }
        finally
        {
            TestSeams.SkipRootPreparation = false;
            Environment.SetEnvironmentVariable("VSERVER_RUNTIME", null);
        }

        SafeRemove.RemoveTree(hostDev);
        Directory.CreateDirectory(hostDev);
        File.WriteAllText(Path.Combine(hostDev, "ptmx"), "host file");
        var e = Assert.Throws<VServerException>(() => g.Runtime.Start(g.Name));
        Assert.Equal("GuestRootUnsafe", e.ErrorId);
        Assert.Contains("/dev", e.Message);
        Assert.Contains("symlink", e.Message);
        Assert.Equal(before, HostDir());
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
        Assert.Empty(Cgroups.Existing(g.Cgroup));
        Assert.False(File.Exists(g.Netns));
    }

    [GuestFact]
    public void AHundredThousandDeepTreeIsMeasuredUnifiedAndRemoved()
    {
        const int depth = 100_000;
        using var loop = LoopFileSystem.Xfs();
        var store = new GuestStore(loop.Paths);
        TestEnvironment.UseStagedCli();
        var runtime = new GuestRuntime(store);
        var a = "a" + Guid.NewGuid().ToString("N")[..8];
        var b = "b" + Guid.NewGuid().ToString("N")[..8];
        store.Create(new GuestConfig(a) { InitStyle = InitStyle.Plain }, Build.RootBuilders.For(BuildMethod.Busybox));
        store.Create(new GuestConfig(b) { InitStyle = InitStyle.Plain }, Build.RootBuilders.For(BuildMethod.Busybox));
        using (var fs = GuestRootFs.Open(store.RootOf(store.ReadConfig(a))))
        {
            fs.CopyFromHost(Attacks.Path("deeptree"), "/bin/deeptree", 0x1ED);
        }
        runtime.Start(a);
        try
        {
            var o = new List<string>();
            var code = runtime.Exec(a, new ExecRequest(new[] { "/bin/deeptree", "/deep", depth.ToString(CultureInfo.InvariantCulture) }), o.Add, o.Add);
            Assert.True(code == 0, string.Join("\n", o));
        }
        finally
        {
            runtime.Stop(a, TimeSpan.FromSeconds(5));
        }
        var usage = DiskUsageMeter.MeasureGuest(store, a);
        var plain = DiskUsageMeter.MeasureGuest(store, b);
        var outside = TreeWalk.Walk(store.RootOf(store.ReadConfig(a)), e => e.Path != "/deep").Count(e => e.IsRegularFile);
        Assert.Equal(outside + 1, usage.FileCount); // the file at the bottom counted
        Assert.True(plain.FileCount < usage.FileCount);
        var unified = new Unifier(store).Run(new[] { a, b }, new UnifyOptions());
        Assert.True(unified.FilesDeduplicated > 0); // busybox is shared; the deep chain did not stop it
        store.Remove(a);
        Assert.False(store.Exists(a));
        Assert.Equal(new[] { b }, Directory.EnumerateFileSystemEntries(loop.Paths.VdirRoot).Select(Path.GetFileName).ToArray());
        store.Remove(b);
    }

    // ---------------------------------------------------------------- state from the kernel

    [GuestFact]
    public void ALostRunDirectoryIsRebuiltFromTheKernel()
    {
        using var g = new LiveGuest(c => c.Interfaces.Add(InterfaceSpec.Parse("eth0:10.251.0.2/24")), configureAfter: c => c.Bridge = "vstest9");
        var before = g.State;
        Directory.Delete(Path.Combine(g.Roots.Paths.RunRoot, g.Name), recursive: true);

        var status = g.Runtime.Status(g.Name);
        Assert.Equal(GuestState.Running, status.State);
        Assert.Equal(before.InitPid, status.InitPid);
        var rebuilt = g.State;
        Assert.True(rebuilt.Recovered);
        Assert.Equal(before.Instance, rebuilt.Instance);
        Assert.Equal(before.ConmonPid, rebuilt.ConmonPid);
        Assert.Equal(before.Context, rebuilt.Context);
        Assert.Equal(before.NetworkNamespace, rebuilt.NetworkNamespace);
        Assert.Contains(RunDirectory.Running(g.Roots.Paths), r => r.Name == g.Name);

        // a start neither starts a second one nor touches the running one's network
        Directory.Delete(Path.Combine(g.Roots.Paths.RunRoot, g.Name), recursive: true);
        var e = Assert.Throws<VServerException>(() => g.Runtime.Start(g.Name));
        Assert.Equal("GuestAlreadyRunning", e.ErrorId);
        Assert.True(File.Exists(g.Netns));
        Assert.Equal("ok", g.Sh("echo ok").Trim());

        // stop works, and the exit hook cleans up
        Directory.Delete(Path.Combine(g.Roots.Paths.RunRoot, g.Name), recursive: true);
        g.Runtime.Stop(g.Name, TimeSpan.FromSeconds(5));
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
        Assert.False(ProcFs.IsAlive(before.InitPid, before.InitStartTicks));
        Assert.True(LiveGuest.WaitFor(() => !File.Exists(g.Netns), 10));
        Assert.Empty(Cgroups.Existing(g.Cgroup));
        Ip.TryRun("link", "delete", "vstest9"); // the test's bridge goes too
    }

    [GuestFact]
    public void ARemoveThatFailsLeavesTheGuestWhole()
    {
        using var g = new LiveGuest(start: false);
        var root = g.Root;
        var before = Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).Count();
        // the root's parent refuses renames: nothing can be moved aside, so nothing may be deleted
        var parent = Path.GetDirectoryName(root)!;
        HostProcess.Run("/usr/bin/chattr", new[] { "+i", parent });
        try
        {
            Assert.ThrowsAny<Exception>(() => g.Store.Remove(g.Name));
        }
        finally
        {
            HostProcess.Run("/usr/bin/chattr", new[] { "-i", parent });
        }
        Assert.True(g.Store.Exists(g.Name));
        Assert.Equal(before, Directory.EnumerateFileSystemEntries(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }).Count());
        g.Runtime.Start(g.Name);
        Assert.Equal("ok", g.Sh("echo ok").Trim());
    }
}
