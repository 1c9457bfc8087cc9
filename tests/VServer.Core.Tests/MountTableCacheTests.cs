using System.Diagnostics;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// What is read from a mount table is kept until the table changes (the kernel's POLLPRI on an open
/// mountinfo), so that a start on a host with hundreds of guests does not read it hundreds of times.
/// </summary>
public sealed class MountTableCacheTests
{
    [Fact]
    public void TheHierarchiesAreReadFromMountinfoByControllerAndNamedHierarchy()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file,
                "24 1 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n" +
                "25 24 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n" +
                "26 24 0:24 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd\n" +
                "30 24 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n" +
                "35 24 0:30 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids\n");
            var h = Cgroups.ReadCgroupMounts(File.ReadLines(file)).Hierarchies;
            Assert.Equal("/sys/fs/cgroup/unified", h[""]);
            Assert.Equal("/sys/fs/cgroup/systemd", h["name=systemd"]);
            Assert.Equal("/sys/fs/cgroup/cpu,cpuacct", h["cpu"]);
            Assert.Equal("/sys/fs/cgroup/cpu,cpuacct", h["cpuacct"]);
            Assert.Equal("/sys/fs/cgroup/pids", h["pids"]);
            Assert.IsNotType<Dictionary<string, string>>(h); // shared between callers: nobody may change it
        }
        finally
        {
            File.Delete(file);
        }
    }

    [RootFact]
    public void ItIsReadAgainOnlyAfterAMountOrUnmountInThatNamespace()
    {
        // a mount namespace of its own that nothing else on the host touches: mountinfo of a sleeper in it
        var dir = Directory.CreateTempSubdirectory("vserver-mountcache-").FullName;
        using var sleeper = Process.Start(new ProcessStartInfo("unshare", new[] { "--mount", "--propagation", "private", "sleep", "60" }))!;
        try
        {
            var ownNs = File.ResolveLinkTarget("/proc/self/ns/mnt", false)!.ToString();
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            // until unshare has made the namespace, made its mounts private and become sleep: no change of the table is still to come from it
            while (!(File.ResolveLinkTarget($"/proc/{sleeper.Id}/ns/mnt", false)?.ToString() != ownNs && File.ReadAllText($"/proc/{sleeper.Id}/comm").Trim() == "sleep") && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(5);
            }
            Assert.NotEqual(ownNs, File.ResolveLinkTarget($"/proc/{sleeper.Id}/ns/mnt", false)?.ToString());
            Assert.Equal("sleep", File.ReadAllText($"/proc/{sleeper.Id}/comm").Trim());

            var reads = 0;
            var cache = new MountTable.Cached<IReadOnlyList<string>>(p => { reads++; return MountTable.MountPoints(p); }, $"/proc/{sleeper.Id}/mountinfo");
            var first = cache.Get();
            Assert.Same(first, cache.Get());
            Assert.Same(first, cache.Get());
            Assert.Equal(1, reads);
            Assert.DoesNotContain(dir, first);

            Nsenter(sleeper.Id, "mount", "-t", "tmpfs", "vserver-mountcache", dir);
            var mounted = cache.Get();
            Assert.Equal(2, reads);
            Assert.Contains(dir, mounted);
            Assert.Same(mounted, cache.Get());
            Assert.Equal(2, reads);

            Nsenter(sleeper.Id, "umount", dir);
            Assert.DoesNotContain(dir, cache.Get());
            Assert.Equal(3, reads);
        }
        finally
        {
            sleeper.Kill();
            sleeper.WaitForExit();
            Directory.Delete(dir);
        }
    }

    private static void Nsenter(int pid, params string[] command)
    {
        var r = VServer.Runtime.HostProcess.Run("nsenter", new[] { "-t", pid.ToString(System.Globalization.CultureInfo.InvariantCulture), "-m", "--" }.Concat(command).ToArray());
        Assert.True(r.ExitCode == 0, $"nsenter {string.Join(' ', command)}: {r.StandardError}");
    }
}
