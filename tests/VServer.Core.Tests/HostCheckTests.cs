using System.Diagnostics;
using VServer.Runtime;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>Test-VServerHost's checks against this host (root, loop filesystems).</summary>
[Collection("guests")]
public class HostCheckTests
{
    private static readonly string[] Names =
    {
        "root", "namespace pid", "namespace ipc", "namespace uts", "namespace mnt", "namespace net", "namespace cgroup",
        "namespace user", "namespace time", "cgroups", "OCI runtime", "conmon", "busybox-static", "tini-static", "lxcfs",
        "overlayfs", "reflink", "guest store", "private users", "iproute2", "nftables", "veth", "bridge", "ipvlan", "macvlan",
    };

    /// <summary>The probe's own scratch namespaces (vs-testme-*): guests of other test processes come and go meanwhile.</summary>
    private static string NetNamespaces() => string.Join(",", Directory.Exists("/run/netns")
        ? Directory.GetFileSystemEntries("/run/netns").Where(n => Path.GetFileName(n).StartsWith("vs-testme-", StringComparison.Ordinal)).Order()
        : Enumerable.Empty<string>());

    [LoopFsFact]
    public void EveryCheckRunsAndTheReflinkProbeNamesTheFileSystemAndLeavesNothing()
    {
        using var xfs = LoopFileSystem.Xfs();
        using var ext4 = LoopFileSystem.Ext4();
        var netns = NetNamespaces();
        var onXfs = HostChecks.Run(xfs.Paths).ToList();
        Assert.Equal(Names, onXfs.Select(c => c.Check));
        Assert.Equal(Names, HostChecks.Names); // what -Check accepts and completes
        Assert.Equal(CheckStatus.Pass, onXfs.Single(c => c.Check == "root").Status);
        Assert.All(onXfs.Where(c => c.Check.StartsWith("namespace ", StringComparison.Ordinal) && c.Check != "namespace time"), c => Assert.Equal(CheckStatus.Pass, c.Status));
        Assert.Contains(Cgroups.Hierarchies().ContainsKey("") ? (Cgroups.Hierarchies().Count > 1 ? "hybrid" : "v2") : "v1", onXfs.Single(c => c.Check == "cgroups").Detail);
        Assert.Equal(CheckStatus.Pass, onXfs.Single(c => c.Check == "OCI runtime").Status);
        Assert.Equal(CheckStatus.Pass, onXfs.Single(c => c.Check == "conmon").Status);
        Assert.Equal(CheckStatus.Pass, onXfs.Single(c => c.Check == "veth").Status);
        Assert.Equal(CheckStatus.Pass, onXfs.Single(c => c.Check == "bridge").Status);
        var reflink = onXfs.Single(c => c.Check == "reflink");
        Assert.Equal(CheckStatus.Pass, reflink.Status);
        Assert.Contains("xfs", reflink.Detail);

        Assert.StartsWith("Directory: ", onXfs.Single(c => c.Check == "guest store").Detail);
        // a user namespace made for real and an idmapped mount of the vdir root asked for (never attached)
        var users = onXfs.Single(c => c.Check == "private users");
        Assert.Equal(CheckStatus.Pass, users.Status);
        Assert.Contains($"idmapped mounts on xfs ({xfs.Paths.VdirRoot})", users.Detail);

        var onExt4 = HostChecks.Run(ext4.Paths).Single(c => c.Check == "reflink");
        Assert.Equal(CheckStatus.Warn, onExt4.Status);
        Assert.Contains("ext4", onExt4.Detail);

        // the probes left no scratch file and no network namespace behind
        Assert.Empty(Directory.GetFileSystemEntries(xfs.Paths.VdirRoot));
        Assert.Empty(Directory.GetFileSystemEntries(ext4.Paths.VdirRoot));
        Assert.Equal(netns, NetNamespaces());
    }

    [GuestFact]
    public void TestmeExitsNonZeroOnlyWhenACheckFails()
    {
        using var roots = new TempRoots();
        (int Code, string Out) Testme(string? runtime)
        {
            var psi = new ProcessStartInfo(TestEnvironment.CliPath, "testme") { RedirectStandardOutput = true };
            psi.Environment["VSERVER_VDIR_ROOT"] = roots.Paths.VdirRoot;
            psi.Environment["VSERVER_RUN_ROOT"] = roots.Paths.RunRoot;
            if (runtime is not null)
            {
                psi.Environment["VSERVER_RUNTIME"] = runtime;
            }
            using var p = Process.Start(psi)!;
            var output = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            return (p.ExitCode, output);
        }
        var ok = Testme(null);
        Assert.Equal(Names.Length, ok.Out.TrimEnd('\n').Split('\n').Length);
        Assert.Equal(ok.Out.Contains(" FAIL ", StringComparison.Ordinal) ? 1 : 0, ok.Code);
        Assert.Matches(@"(?m)^OCI runtime +PASS  ", ok.Out);

        var broken = Testme("/nonexistent/runc");
        Assert.Equal(1, broken.Code);
        Assert.Matches(@"(?m)^OCI runtime +FAIL  .*/nonexistent/runc", broken.Out);
    }
}
