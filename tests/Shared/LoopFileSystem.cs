using System.Diagnostics;
using Xunit;

namespace VServer.Tests.Shared;

/// <summary>A throw-away filesystem on a loop device (XFS with reflink, btrfs or ext4), unmounted and deleted on dispose.</summary>
public sealed class LoopFileSystem : IDisposable
{
    private LoopFileSystem(string kind, long sizeMiB = 0)
    {
        Base = Path.Combine(Path.GetTempPath(), "vserver-fs-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Base);
        Image = Path.Combine(Base, "image");
        Mount = Path.Combine(Base, "mnt");
        Directory.CreateDirectory(Mount);
        using (var f = File.Create(Image))
        {
            f.SetLength(sizeMiB > 0 ? sizeMiB << 20 : kind is "xfs" or "btrfs" ? 600L << 20 : 128L << 20); // sparse; XFS wants 300 MB or more
        }
        if (kind == "xfs")
        {
            Run("mkfs.xfs", "-q", "-m", "reflink=1", Image);
        }
        else if (kind == "btrfs")
        {
            Assert.True(File.Exists("/usr/sbin/mkfs.btrfs") || File.Exists("/sbin/mkfs.btrfs"), "mkfs.btrfs is not installed (apt-get install btrfs-progs)");
            Run("mkfs.btrfs", "-q", Image);
        }
        else
        {
            Run("mkfs.ext4", "-q", "-F", Image);
        }
        Run("mount", "-o", "loop", Image, Mount);
        Paths = new VServerPaths(System.IO.Path.Combine(Mount, "etc"), System.IO.Path.Combine(Mount, "vservers"), System.IO.Path.Combine(Base, "run"));
        Directory.CreateDirectory(Paths.ConfigRoot);
        Directory.CreateDirectory(Paths.VdirRoot);
    }

    public static LoopFileSystem Xfs(long sizeMiB = 0) => new("xfs", sizeMiB);

    public static LoopFileSystem Ext4() => new("ext4");

    public static LoopFileSystem Btrfs(long sizeMiB = 0) => new("btrfs", sizeMiB);

    public string Base { get; }
    public string Image { get; }
    public string Mount { get; }

    /// <summary>Roots with the config and vdir roots on this filesystem.</summary>
    public VServerPaths Paths { get; }

    /// <summary>Free bytes, after flushing everything to the device.</summary>
    public long FreeBytes()
    {
        Run("sync", "-f", Mount);
        var d = new DriveInfo(Mount);
        return d.AvailableFreeSpace;
    }

    public static void Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)}: {err.Result}");
    }

    public void Dispose()
    {
        try
        {
            Run("umount", Mount);
        }
        catch (Exception)
        {
            Run("umount", "-l", Mount); // busy: detach, so the delete below never reaches into it
        }
        Directory.Delete(Base, true);
    }
}

/// <summary>A fact that needs root and mkfs.xfs/mkfs.ext4 for loop-mounted filesystems; skipped with the reason locally, run in strict mode.</summary>
public sealed class LoopFsFactAttribute : FactAttribute
{
    public LoopFsFactAttribute()
    {
        if (TestEnvironment.Strict)
        {
            return;
        }
        if (!TestEnvironment.IsRoot)
        {
            Skip = "needs root to mount a loop filesystem.";
        }
        else if (!File.Exists("/usr/sbin/mkfs.xfs") && !File.Exists("/sbin/mkfs.xfs"))
        {
            Skip = "needs mkfs.xfs (apt-get install xfsprogs).";
        }
        else if (TestEnvironment.BusyboxPath is null)
        {
            Skip = "needs busybox-static (/bin/busybox).";
        }
    }
}
