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
    /// <summary>
    /// A start reads only the lines it needs of a large mount table as strings: the cgroup mounts, or
    /// those of one mount point. What it makes of them is what it made of the whole table.
    /// </summary>
    [Fact]
    public void OnlyTheLinesAskedForAreReadAndTheyGiveWhatTheWholeTableGave()
    {
        var file = Path.GetTempFileName();
        try
        {
            var lines = new List<string>
            {
                "24 1 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755",
                "25 24 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate",
                "26 24 0:24 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd",
                "27 1 254:0 /srv/cgroup /srv/cgroup\\040copy rw - ext4 /dev/vda rw", // "cgroup" in paths only
                "28 1 0:50 / /srv/a\\040b rw - overlay overlay rw,lowerdir=/x",
                "29 1 0:51 / /srv/a rw - tmpfs tmpfs rw",
                "30 1 0:52 / /srv/a\\040b/c rw - tmpfs tmpfs rw",
            };
            // a table larger than the first buffer, as a host with hundreds of guests has
            lines.AddRange(Enumerable.Range(100, 3000).Select(i => $"{i} 1 0:4 net:[40265{i}] /run/netns/vs-g{i} rw shared:2 - nsfs nsfs rw"));
            lines.Add("35 24 0:30 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids");
            lines.Add("3200 28 0:53 / /srv/a\\040b rw - tmpfs tmpfs rw"); // on top of the overlay
            File.WriteAllText(file, string.Join('\n', lines) + "\n");

            var wanted = MountTable.LinesWith(file, " - cgroup"u8);
            Assert.Equal(3, wanted.Count); // the cgroup2 and two cgroup mounts, not the paths that only name "cgroup"
            Assert.Equal(Cgroups.ReadCgroupMounts(File.ReadLines(file)).Hierarchies.OrderBy(kv => kv.Key),
                Cgroups.ReadCgroupMounts(wanted).Hierarchies.OrderBy(kv => kv.Key));
            Assert.Equal("/sys/fs/cgroup/pids", Cgroups.ReadCgroupMounts(wanted).Hierarchies["pids"]); // past the first buffer

            Assert.Equal("tmpfs", MountTable.FilesystemAt("/srv/a b", file)); // the topmost of its two mounts
            Assert.Equal("tmpfs", MountTable.FilesystemAt("/srv/a b/c", file));
            Assert.Null(MountTable.FilesystemAt("/srv/cgroup", file)); // a bind mount's source is not a mount point
            Assert.Equal("ext4", MountTable.FilesystemAt("/srv/cgroup copy", file));
            Assert.Equal("nsfs", MountTable.FilesystemAt("/run/netns/vs-g3099", file));
            Assert.Null(MountTable.FilesystemAt("/run/netns/vs-g31", file));
            Assert.Throws<FileNotFoundException>(() => MountTable.FilesystemAt("/srv/a", file + ".absent"));
        }
        finally
        {
            File.Delete(file);
        }
    }

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
