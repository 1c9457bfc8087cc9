using System.Text.Json.Nodes;
using VServer.Config;
using VServer.Native;
using VServer.Runtime;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// Commands run in a guest by vserver-ns's attach (setns, cgroups, the guest's seccomp filter, user and
/// capabilities) instead of the runtime's exec: the same process, and nothing of the host in it.
/// </summary>
public class AttachTests
{
    /// <summary>What a command sees of itself: ids, capabilities, filter, cgroups, namespaces, limits, nice, directory, environment.</summary>
    private const string SelfPortrait =
        "id -u; id -G; grep -E '^(Cap|Seccomp|NoNewPrivs)' /proc/self/status; grep PPid /proc/$$/status; cat /proc/self/cgroup; " +
        "for n in cgroup ipc mnt net pid uts user; do echo $n $(readlink /proc/self/ns/$n); done; " +
        "ulimit -a; cut -d' ' -f19 /proc/self/stat; pwd; env | sort";

    private static string Portrait(LiveGuest g, ExecRequest request, bool throughRuntime)
    {
        TestSeams.ExecThroughRuntime = throughRuntime;
        try
        {
            var o = new List<string>();
            var e = new List<string>();
            var code = g.Runtime.Exec(g.Name, request, o.Add, e.Add);
            Assert.True(code == 0, $"exited {code}: {string.Join("\n", e)}");
            return string.Join("\n", o);
        }
        finally
        {
            TestSeams.ExecThroughRuntime = false;
        }
    }

    /// <summary>The attach records are made for this guest (crun, its filter there): the exec does not fall back to the runtime.</summary>
    private static void AssertAttaches(LiveGuest g)
    {
        var state = g.State;
        var runtime = new OciRuntime(state.Runtime, state.RuntimeRoot);
        Assert.Equal("crun", runtime.Name);
        var process = OciBundle.ExecProcess(JsonNode.Parse(File.ReadAllText(g.Runtime.Run(g.Name).ConfigJson))!["process"]!, new[] { "/bin/true" });
        Assert.NotNull(GuestAttach.Records(process, state, runtime, GuestId.Of(g.Name), null));
        Assert.NotNull(GuestRuntime.CompanionProgram(OciRuntime.NamespaceHelper));
    }

    [GuestFact]
    public void AnAttachedCommandIsTheProcessTheRuntimesExecStarts() => SameProcess(privateUsers: false);

    [GuestFact]
    public void AnAttachedCommandIsTheProcessTheRuntimesExecStartsWithPrivateUsers() => SameProcess(privateUsers: true);

    private static void SameProcess(bool privateUsers)
    {
        using var g = new LiveGuest(c =>
        {
            c.Nice = 4;
            c.ResourceLimits = new() { new ResourceLimit("nofile", 512, 700) };
            if (privateUsers)
            {
                c.PrivateUsers = IdRange.Pending;
            }
        });
        AssertAttaches(g);
        foreach (var request in new[]
        {
            new ExecRequest(new[] { "/bin/sh", "-c", SelfPortrait }),
            new ExecRequest(new[] { "sh", "-c", SelfPortrait }) { User = "65534:65534", WorkingDirectory = "/tmp", Environment = new Dictionary<string, string> { ["EXTRA"] = "a b", ["PATH"] = "/bin:/sbin" } },
        })
        {
            var attached = Portrait(g, request, throughRuntime: false);
            var runtime = Portrait(g, request, throughRuntime: true);
            Assert.Equal(runtime, attached);
            Assert.Contains("Seccomp:\t2", attached);
            Assert.Contains("PPid:\t0", attached); // the command's parent is on the host's side, out of the guest's sight
        }
        // the guest's own init: the same cgroups and namespaces
        var init = g.Sh("cat /proc/1/cgroup; for n in cgroup ipc mnt net pid uts user; do echo $n $(readlink /proc/1/ns/$n); done");
        var self = g.Sh("cat /proc/self/cgroup; for n in cgroup ipc mnt net pid uts user; do echo $n $(readlink /proc/self/ns/$n); done");
        Assert.Equal(init, self);
    }

    [GuestFact]
    public void ExitStatusesSignalsAndAMissingCommandAreTheRuntimesToo()
    {
        using var g = new LiveGuest();
        AssertAttaches(g);
        foreach (var through in new[] { false, true })
        {
            TestSeams.ExecThroughRuntime = through;
            try
            {
                Assert.Equal(3, g.Exec("/bin/sh", "-c", "exit 3").Code);
                Assert.Equal(128 + 15, g.Exec("/bin/sh", "-c", "kill -TERM $$").Code);
                var missing = g.Exec("/bin/nosuch");
                Assert.NotEqual(0, missing.Code);
                Assert.Contains("nosuch", missing.Err, StringComparison.Ordinal);
            }
            finally
            {
                TestSeams.ExecThroughRuntime = false;
            }
        }
        // a cancelled command is ended in the guest, not left running there
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        Assert.ThrowsAny<OperationCanceledException>(() => g.Runtime.Exec(g.Name, new ExecRequest(new[] { "/bin/sleep", "1234" }), null, null, cancel.Token));
        Assert.True(LiveGuest.WaitFor(() => g.Exec("/bin/sh", "-c", "pidof sleep").Code != 0, 10), "sleep 1234 still runs in the guest");
    }

    /// <summary>
    /// Red team: a descriptor of a host directory open in the process that runs a command (leaked by a
    /// caller) would let the guest's root read and write the host through /proc/self/fd. Against a weak
    /// attach (util-linux's nsenter, which keeps every descriptor), the guest reads the host's file; the
    /// attach keeps none but standard input, output and error.
    /// </summary>
    [GuestFact]
    public void AHostDescriptorOfTheCallerDoesNotReachTheGuest()
    {
        using var g = new LiveGuest();
        AssertAttaches(g);
        var secret = Path.Combine(g.Roots.Base, "host-secret");
        File.WriteAllText(secret, "host-only\n");
        // descriptor 9 of a host directory, open in the process that starts the attach (as a leak from the caller would be)
        const string probe = "for f in /proc/self/fd/*; do echo \"$f $(readlink $f)\"; done; cat /proc/self/fd/9/host-secret 2>&1; true";
        var helper = GuestRuntime.CompanionProgram(OciRuntime.NamespaceHelper)!;

        // the weak attach: nsenter into the guest's namespaces keeps descriptor 9
        var weak = HostProcess.Run("/bin/sh", new[] { "-c", $"exec 9<'{g.Roots.Base}'; exec nsenter -t {g.State.InitPid} -a /bin/sh -c '{probe}'" });
        Assert.Contains("host-only", weak.StandardOutput, StringComparison.Ordinal);

        // the attach: the same leak in its caller does not reach the guest
        var records = AttachRecords(g, new[] { "/bin/sh", "-c", probe });
        var fd = Sys.MemoryFile("test-attach", records);
        try
        {
            var r = HostProcess.Run("/bin/sh", new[] { "-c", $"exec 9<'{g.Roots.Base}'; exec '{helper}' attach {fd}" }, inheritFd: fd);
            Assert.True(r.ExitCode == 0, $"exited {r.ExitCode}: {r.StandardError}\n{r.StandardOutput}");
            Assert.DoesNotContain("host-only", r.StandardOutput, StringComparison.Ordinal);
            Assert.DoesNotContain(g.Roots.Base, r.StandardOutput, StringComparison.Ordinal);
            Assert.DoesNotContain("memfd", r.StandardOutput, StringComparison.Ordinal);
            Assert.Matches(@"/proc/self/fd/9: No such file|can't open '/proc/self/fd/9/host-secret'", r.StandardOutput);
        }
        finally
        {
            Sys.Close(fd);
        }
    }

    /// <summary>
    /// Red team: the guest's root points the command's working directory at the host (a symlink out of
    /// its root). The directory is entered inside the guest's mount namespace, where the link ends at the
    /// guest's own root: against the host's view (the link followed from the host) it would be the host's.
    /// </summary>
    [GuestFact]
    public void AWorkingDirectoryLinkedOutOfTheGuestStaysInTheGuest()
    {
        using var g = new LiveGuest();
        AssertAttaches(g);
        g.Sh("mkdir -p /srv && ln -s ../../../../../../../../ /srv/out && touch /guest-marker");
        // the weak way: the link followed from the host's side lands on the host's root
        var hostView = Path.GetFullPath(Path.Combine(g.Root, "srv", new FileInfo(Path.Combine(g.Root, "srv/out")).LinkTarget!));
        Assert.Equal("/", hostView);
        var o = new List<string>();
        var code = g.Runtime.Exec(g.Name, new ExecRequest(new[] { "/bin/sh", "-c", "pwd -P; ls /srv/out/" }) { WorkingDirectory = "/srv/out" }, o.Add, null);
        Assert.Equal(0, code);
        Assert.Equal("/", o[0]);
        Assert.Contains("guest-marker", o);
        Assert.DoesNotContain(Path.GetFileName(g.Roots.Base), o);
    }

    private static byte[] AttachRecords(LiveGuest g, string[] command)
    {
        var state = g.State;
        var process = OciBundle.ExecProcess(JsonNode.Parse(File.ReadAllText(g.Runtime.Run(g.Name).ConfigJson))!["process"]!, command);
        return GuestAttach.Records(process, state, new OciRuntime(state.Runtime, state.RuntimeRoot), GuestId.Of(g.Name), null)!;
    }
}
