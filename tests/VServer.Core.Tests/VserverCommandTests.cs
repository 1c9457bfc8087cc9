using System.Text.RegularExpressions;
using VServer.Config;
using VServer.Runtime;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>The vserver command as util-vserver's scripts call it: its verbs, options and exit codes.</summary>
public sealed class VserverCommandTests
{
    private static ProcessResult Cli(LiveGuest g, params string[] args) => CliWithInput(g, null, args);

    private static ProcessResult CliWithInput(LiveGuest g, string? input, params string[] args) => TestEnvironment.Vserver(g.Roots.Paths, input, args);

    [GuestFact]
    public void StatusRunningStartAndStopGiveUtilVserversOutputAndExitCodes()
    {
        using var g = new LiveGuest(start: false);
        var r = Cli(g, g.Name, "running");
        Assert.Equal(1, r.ExitCode); // util-vserver's: not 3
        r = Cli(g, g.Name, "status");
        Assert.Equal(3, r.ExitCode);
        Assert.Equal($"Server {g.Name} is not running\n", r.StandardOutput);
        r = Cli(g, g.Name, "stop"); // a stopped guest: a warning, and done
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("is not running", r.StandardError);

        Assert.Equal(0, Cli(g, g.Name, "start").ExitCode);
        r = Cli(g, g.Name, "start"); // a running guest: a warning, and done
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("already running", r.StandardError);
        Assert.Equal(0, Cli(g, g.Name, "running").ExitCode);
        g.Sh("sleep 300 >/dev/null 2>&1 &");
        r = Cli(g, g.Name, "status");
        Assert.Equal(0, r.ExitCode);
        // seed 000: "Server artemis is running / 26 processes running / Vserver uptime: 25 days, 10:23"
        var m = Regex.Match(r.StandardOutput, @"^Server (\S+) is running\n(\d+) processes running\nVserver uptime: (\d+ min|\d+:\d\d)\n$");
        Assert.True(m.Success, r.StandardOutput);
        Assert.Equal(g.Name, m.Groups[1].Value);
        Assert.Equal(g.Runtime.Status(g.Name).ProcessCount, int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.True(int.Parse(m.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) >= 2); // init and the sleep

        // condrestart: a running guest restarts (a new init), a stopped one stays stopped
        var before = g.State.Instance;
        Assert.Equal(0, Cli(g, g.Name, "condrestart").ExitCode);
        Assert.NotEqual(before, g.State.Instance);
        Assert.Equal(0, Cli(g, g.Name, "stop").ExitCode);
        Assert.Equal(0, Cli(g, g.Name, "condrestart").ExitCode);
        Assert.Equal(GuestState.Stopped, g.Runtime.Status(g.Name).State);
    }

    /// <summary>
    /// Ctrl+C (SIGINT) and Ctrl+\\ (SIGQUIT) cancel what the command waits for: it says so and exits
    /// with 130, instead of dying of the signal midway (then it would say nothing).
    /// </summary>
    [GuestFact]
    public void AnInterruptCancelsTheWaitAndSaysSo()
    {
        foreach (var signal in new[] { 2 /* SIGINT */, 3 /* SIGQUIT */ })
        {
            using var g = new LiveGuest();
            var psi = new System.Diagnostics.ProcessStartInfo(TestEnvironment.CliPath) { RedirectStandardError = true, RedirectStandardOutput = true };
            psi.ArgumentList.Add(g.Name);
            psi.ArgumentList.Add("stop"); // busybox init takes about two seconds to stop
            psi.Environment["VSERVER_CONFIG_ROOT"] = g.Roots.Paths.ConfigRoot;
            psi.Environment["VSERVER_VDIR_ROOT"] = g.Roots.Paths.VdirRoot;
            psi.Environment["VSERVER_RUN_ROOT"] = g.Roots.Paths.RunRoot;
            using var p = System.Diagnostics.Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            Thread.Sleep(400);
            Assert.False(p.HasExited, "the stop ended before the interrupt: nothing was tested");
            VServer.Native.Sys.Signal(p.Id, signal);
            Assert.True(p.WaitForExit(5000));
            Assert.Equal(130, p.ExitCode);
            Assert.Contains("vserver: interrupted.", stderr.Result);
        }
    }

    /// <summary>
    /// `vserver NAME running` and `vserver NAME exec` are answered by the command's native entry from
    /// the guest's exec.records, without .NET: the same answers and the same process as the .NET path
    /// (`--silent` takes it), which still answers whatever the records cannot (a stopped guest, a
    /// private flag written by hand, records someone else could have written).
    /// </summary>
    [GuestFact]
    public void RunningAndExecWithoutDotNetAnswerAsTheProgramDoes()
    {
        using var g = new LiveGuest(c => c.Nice = 3);
        var records = GuestAttach.ExecRecordsFile(g.Runtime.Run(g.Name));
        Assert.True(File.Exists(records));
        Assert.Equal(0, Cli(g, g.Name, "running").ExitCode);
        const string portrait = "id; grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status; cat /proc/self/cgroup; ls -l /proc/self/ns | sed 's/.*-> //'; ulimit -a; cut -d' ' -f19 /proc/self/stat; pwd; env | sort; ls /proc/self/fd";
        var fast = Cli(g, g.Name, "exec", "/bin/sh", "-c", portrait + "; exit 7");
        var dotnet = Cli(g, "--silent", g.Name, "exec", "/bin/sh", "-c", portrait + "; exit 7");
        Assert.Equal(7, fast.ExitCode);
        Assert.Equal((dotnet.ExitCode, dotnet.StandardOutput, dotnet.StandardError), (fast.ExitCode, fast.StandardOutput, fast.StandardError));
        Assert.Contains("Seccomp:\t2", fast.StandardOutput);
        Assert.Equal("hello\n", CliWithInput(g, "hello\n", g.Name, "exec", "cat").StandardOutput); // standard input passes through

        // a nice value changed live: the records follow it
        g.Store.Update(g.Name, new GuestSettings { Nice = 6 });
        Assert.Equal("6", Cli(g, g.Name, "exec", "/bin/sh", "-c", "cut -d' ' -f19 /proc/self/stat").StandardOutput.Trim());

        // red team (a host user, not the guest): records writable by another user are not taken. Weak: the same
        // forged record in root's own file (mode 644) is taken, so the check is what stops it
        var forged = File.ReadAllBytes(records).Concat(System.Text.Encoding.UTF8.GetBytes("env=FORGED=1\0")).ToArray();
        File.WriteAllBytes(records, forged);
        Assert.Contains("FORGED=1", Cli(g, g.Name, "exec", "/usr/bin/env").StandardOutput);
        File.SetUnixFileMode(records, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead);
        var declined = Cli(g, g.Name, "exec", "/usr/bin/env");
        Assert.Equal(0, declined.ExitCode);
        Assert.DoesNotContain("FORGED", declined.StandardOutput);

        // the private flag written by hand after the start: the .NET path refuses, as it always did
        File.AppendAllText(Path.Combine(g.Roots.Paths.ConfigDir(g.Name), "flags"), "private\n");
        var refused = Cli(g, g.Name, "exec", "/bin/true");
        Assert.Equal(1, refused.ExitCode);
        Assert.Contains("GuestPrivate", refused.StandardError);
        File.WriteAllLines(Path.Combine(g.Roots.Paths.ConfigDir(g.Name), "flags"), File.ReadAllLines(Path.Combine(g.Roots.Paths.ConfigDir(g.Name), "flags")).Where(l => l != "private"));

        // stopped: the records are gone with the run directory's contents, and .NET answers
        g.Runtime.Stop(g.Name, TimeSpan.Zero);
        Assert.False(File.Exists(records));
        Assert.Equal(1, Cli(g, g.Name, "running").ExitCode);
        var stopped = Cli(g, g.Name, "exec", "/bin/true");
        Assert.Equal(1, stopped.ExitCode);
        Assert.Contains("GuestNotRunning", stopped.StandardError);
    }

    /// <summary>
    /// `vserver NAME exec` becomes the runtime's exec: the command's exit status and output are its
    /// own, SIGPIPE is at its default in it (.NET ignores it, and an ignored signal would survive
    /// the exec), its process description is handed over in memory (no file in the run directory),
    /// and no descriptor of the vserver command reaches the guest.
    /// </summary>
    [GuestFact]
    public void ExecReplacesTheCommandWithTheRuntimesExecAndLeavesNothingBehind()
    {
        using var g = new LiveGuest();
        var runDir = g.Runtime.Run(g.Name).Dir;
        var before = Directory.GetFileSystemEntries(runDir).Order().ToArray();
        var r = Cli(g, g.Name, "exec", "/bin/sh", "-c", "echo out; echo err >&2; exit 7");
        Assert.Equal(7, r.ExitCode);
        Assert.Equal("out\n", r.StandardOutput);
        Assert.Equal("err\n", r.StandardError);
        Assert.Equal("piped\n", CliWithInput(g, "piped\n", g.Name, "exec", "cat").StandardOutput);
        // SigIgn of the command's status: bit 13 (SIGPIPE, signal 13) must be clear
        var sigIgn = Regex.Match(Cli(g, g.Name, "exec", "cat", "/proc/self/status").StandardOutput, @"SigIgn:\s+([0-9a-f]+)").Groups[1].Value;
        Assert.Equal(0UL, Convert.ToUInt64(sigIgn, 16) & (1UL << 12));
        // the command's descriptors: its standard ones only (fd 3 is ls's own listing)
        var fds = Cli(g, g.Name, "exec", "/bin/sh", "-c", "ls /proc/self/fd").StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(new[] { "0", "1", "2", "3" }, fds.Order().ToArray());
        Assert.Equal(before, Directory.GetFileSystemEntries(runDir).Order().ToArray());
    }

    [GuestFact]
    public void NamesAsPathsOptionsAndUnknownVerbs()
    {
        using var g = new LiveGuest(start: false);
        // the configuration directory's path names the guest, with or without a trailing slash
        Assert.Equal(3, Cli(g, g.Roots.Paths.ConfigDir(g.Name) + "/", "status").ExitCode);
        Assert.Equal(1, Cli(g, g.Roots.Paths.ConfigDir(g.Name), "running").ExitCode);
        var r = Cli(g, "/etc/passwd", "status");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("'/etc/passwd' is not a guest's configuration directory", r.StandardError);
        // options come before the name and are never taken as one
        r = Cli(g, "--silent", "--debug", g.Name, "start");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("vserver: debug: ", r.StandardError);
        Assert.Contains("conmon", r.StandardError); // the runtime's command lines
        Assert.Equal("", r.StandardOutput);
        Assert.Equal(0, Cli(g, "--silent", g.Name, "stop").ExitCode);
        // --silent: no informative message
        var newName = "s" + Guid.NewGuid().ToString("N")[..8];
        r = Cli(g, "--silent", g.Name, "rename", newName);
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("", r.StandardOutput);
        r = Cli(g, newName, "rename", g.Name);
        Assert.Contains($"is now '{g.Name}'", r.StandardOutput);
        r = Cli(g, g.Name, "frobnicate");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("unknown command 'frobnicate'", r.StandardError);
        r = Cli(g, g.Name, "pkgmgmt");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("not supported", r.StandardError);
        r = Cli(g, "--help");
        Assert.Equal(0, r.ExitCode);
        foreach (var verb in new[] { "start", "stop", "restart", "condrestart", "status", "running", "enter", "exec", "suexec", "service", "chkconfig", "build", "delete", "unify", "hashify", "rename", "import-conf", "--silent", "--debug", "--nodev", "vserver-stat", "vps", "vkill", "testme" })
        {
            Assert.Contains(verb, r.StandardError);
        }
    }

    [GuestFact]
    public void NodevStartsWithLoopbackOnlyAndTheNextStartHasTheInterfacesAgain()
    {
        var bridge = "vsc" + Guid.NewGuid().ToString("N")[..6];
        try
        {
            using var g = new LiveGuest(c => { c.Interfaces.Add(InterfaceSpec.Parse("eth0:10.231.0.2/24")); c.Bridge = bridge; }, start: false);
            Assert.Equal(0, Cli(g, "--nodev", g.Name, "start").ExitCode);
            Assert.DoesNotContain("eth0", g.Sh("cat /proc/net/dev"));
            Assert.Contains("lo:", g.Sh("cat /proc/net/dev"));
            Assert.Equal(0, Cli(g, g.Name, "restart").ExitCode);
            Assert.Contains("inet 10.231.0.2/24", g.Sh("ip addr show eth0"));
        }
        finally
        {
            Ip.TryRun("link", "delete", bridge);
        }
    }

    [GuestFact]
    public void SuexecServiceAndChkconfigRunInsideTheGuestThroughItsOwnInit()
    {
        using var g = new LiveGuest();
        var r = Cli(g, g.Name, "suexec", "nobody", "id", "-u");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("65534", r.StandardOutput.Trim());
        // a Busybox guest has neither systemctl nor service(8): its /etc/init.d script is run, in the guest
        g.Sh("mkdir -p /etc/init.d && printf '#!/bin/sh\\necho \"hello $1 $(cat /etc/hostname)\"\\nexit 7\\n' > /etc/init.d/hello && chmod +x /etc/init.d/hello");
        r = Cli(g, g.Name, "service", "hello", "start");
        Assert.Equal(7, r.ExitCode); // the service's own exit status
        Assert.Equal($"hello start {g.Store.ReadConfig(g.Name).Hostname ?? g.Name}", r.StandardOutput.Trim());
        r = Cli(g, g.Name, "service", "nosuch", "start");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("service nosuch: not found", r.StandardError);
        Assert.Equal(1, Cli(g, g.Name, "service", "../../bin/sh", "start").ExitCode); // not a service name
        r = Cli(g, g.Name, "chkconfig", "hello", "on");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("no systemctl, chkconfig or update-rc.d", r.StandardError);
        Assert.Equal(2, Cli(g, g.Name, "chkconfig", "hello", "maybe").ExitCode);
    }

    [GuestFact]
    public void DeleteAsksAndRemovesOnlyAStoppedGuestOnYes()
    {
        using var g = new LiveGuest();
        var root = g.Root;
        var r = CliWithInput(g, "n\n", g.Name, "delete");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains("was not deleted", r.StandardError);
        Assert.Equal(1, Cli(g, g.Name, "delete").ExitCode); // no answer at all: no
        r = CliWithInput(g, "y\n", g.Name, "delete"); // it runs: refused
        Assert.Equal(1, r.ExitCode);
        Assert.True(g.Store.Exists(g.Name));
        g.Runtime.Stop(g.Name, TimeSpan.Zero);
        r = CliWithInput(g, "y\n", g.Name, "delete");
        Assert.Equal(0, r.ExitCode);
        Assert.False(g.Store.Exists(g.Name));
        Assert.False(Directory.Exists(root));
    }

    [GuestFact]
    public void BootStartsTheMarkedGuestsAfterTheirDependsAndShutdownStopsThemAll()
    {
        using var a = new LiveGuest(start: false);
        using var b = new LiveGuest(start: false, sharing: a);
        using var c = new LiveGuest(start: false, sharing: a);
        void Put(LiveGuest g, string rel, string content)
        {
            var f = Path.Combine(g.Roots.Paths.ConfigDir(g.Name), rel);
            Directory.CreateDirectory(Path.GetDirectoryName(f)!);
            File.WriteAllText(f, content);
        }
        Put(a, "apps/init/mark", "default\n");
        Put(a, "apps/init/depends", b.Name + "\n");
        Put(c, "apps/init/mark", "other\n");

        var r = Cli(a, "boot");
        Assert.True(r.ExitCode == 0, r.StandardError);
        Assert.Equal(GuestState.Running, a.Runtime.Status(a.Name).State);
        Assert.Equal(GuestState.Running, b.Runtime.Status(b.Name).State); // not marked: a needs it
        Assert.Equal(GuestState.Stopped, c.Runtime.Status(c.Name).State);
        Assert.True(b.State.StartTime < a.State.StartTime, $"{b.State.StartTime:O} {a.State.StartTime:O}");

        r = Cli(a, "shutdown", "5");
        Assert.True(r.ExitCode == 0, r.StandardError);
        Assert.Equal(GuestState.Stopped, a.Runtime.Status(a.Name).State);
        Assert.Equal(GuestState.Stopped, b.Runtime.Status(b.Name).State);

        // a cycle: named, nothing of it started, exit 1
        Put(b, "apps/init/depends", a.Name + "\n");
        r = Cli(a, "boot");
        Assert.Equal(1, r.ExitCode);
        Assert.Contains($"{a.Name} -> {b.Name} -> {a.Name}", r.StandardError);
        Assert.Equal(GuestState.Stopped, a.Runtime.Status(a.Name).State);
        Assert.Equal(2, Cli(a, "shutdown", "soon").ExitCode);
    }

    [GuestFact]
    public void VtopVpstreeVduAndVserverInfoShowTheGuestAndTheInstallation()
    {
        using var g = new LiveGuest();
        g.Sh("sleep 300 >/dev/null 2>&1 &");
        // top inside the guest: its own processes only, none of the host's
        var r = Cli(g, "vtop", g.Name, "-b", "-n", "1");
        Assert.True(r.ExitCode == 0, r.StandardError);
        Assert.Contains("sleep", r.StandardOutput);
        Assert.DoesNotContain("dotnet", r.StandardOutput);
        Assert.DoesNotContain("conmon", r.StandardOutput);
        // pstree from the guest's init, in host pids
        r = Cli(g, "vpstree", g.Name, "-p");
        Assert.True(r.ExitCode == 0, r.StandardError);
        Assert.Matches($@"^init\({g.State.InitPid}\)", r.StandardOutput);
        Assert.Contains("sleep(", r.StandardOutput);
        Assert.Equal(1, Cli(g, "vpstree", "nosuch").ExitCode);
        // vdu: what the guest's root holds, its own and shared, in KiB
        r = Cli(g, "vdu", g.Name);
        Assert.True(r.ExitCode == 0, r.StandardError);
        var usage = Storage.DiskUsageMeter.MeasureGuest(g.Store, g.Name);
        Assert.Equal($"{"TOTAL",10} {"OWN",10} {"SHARED",10} GUEST\n{usage.TotalBytes / 1024,10} {usage.ExclusiveBytes / 1024,10} {usage.SharedBytes / 1024,10} {g.Name}\n", r.StandardOutput);
        // vserver-info: this installation's roots and the host's checks
        r = Cli(g, "vserver-info");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains($"Config root: {g.Roots.Paths.ConfigRoot}\n", r.StandardOutput);
        Assert.Contains("\nconmon: /", r.StandardOutput);
        Assert.Matches(@"\ncgroups: pass \(", r.StandardOutput);
    }
}
