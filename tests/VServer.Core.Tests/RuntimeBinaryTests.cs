using VServer.Runtime;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>The runtime run from a read-only bind mount of itself (RuntimeBinary), so it need not copy and re-execute itself.</summary>
public sealed class RuntimeBinaryTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "vs-rtbin-" + Guid.NewGuid().ToString("N")[..8]);
    private readonly string _mounts;

    public RuntimeBinaryTests()
    {
        Directory.CreateDirectory(Path.Combine(_dir, "installed"));
        _mounts = Path.Combine(_dir, "mounts");
    }

    public void Dispose()
    {
        var target = Path.Combine(_mounts, "fake-runtime");
        while (MountedAt(target) > 0)
        {
            GuestStoreTests.Run("umount", "-l", target);
        }
        Directory.Delete(_dir, recursive: true);
    }

    private static int MountedAt(string path) =>
        File.ReadLines("/proc/self/mountinfo").Count(l => l.Split(' ')[4] == path);

    private string Install(string content)
    {
        // replaced the way a package manager does: a new file renamed over the old name
        var program = Path.Combine(_dir, "installed", "fake-runtime");
        File.WriteAllText(program + ".new", content);
        File.Move(program + ".new", program, overwrite: true);
        return program;
    }

    [RootFact]
    public void TheRuntimeIsRunFromAReadOnlyMountOfItsInstalledFileThatNobodyCanWriteThrough()
    {
        var program = Install("v1");
        var path = RuntimeBinary.For(program, _mounts);

        Assert.Equal(Path.Combine(_mounts, "fake-runtime"), path);
        Assert.True(RuntimeBinary.IsReadOnlyMountOf(path, program));
        Assert.Equal("v1", File.ReadAllText(path));
        // what CVE-2019-5736 does through /proc/PID/exe: open the runtime's file for writing
        var e = Assert.ThrowsAny<IOException>(() => File.WriteAllText(path, "overwritten"));
        Assert.Contains("Read-only", e.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("v1", File.ReadAllText(program));
        // asked again (another process): the same mount, not one more
        Assert.Equal(path, RuntimeBinary.For(program, _mounts));
        Assert.Equal(1, MountedAt(path));
        // the path a guest's state or conmon's command line names stands for the installed program
        Assert.Equal(program, RuntimeBinary.Installed(program, _mounts));
        Assert.Equal(HostProcess.Find("sh"), RuntimeBinary.Installed(Path.Combine(_mounts, "sh"), _mounts));
    }

    [RootFact]
    public void AnUpgradedRuntimeReplacesTheStaleMountInsteadOfRunningTheOldBinary()
    {
        var program = Install("v1");
        var path = RuntimeBinary.For(program, _mounts);
        Assert.Equal("v1", File.ReadAllText(path));

        Install("v2"); // an upgrade: a new inode under the same name
        Assert.False(RuntimeBinary.IsReadOnlyMountOf(path, program));
        Assert.Equal(path, RuntimeBinary.For(program, _mounts));
        Assert.Equal("v2", File.ReadAllText(path));
        Assert.True(RuntimeBinary.IsReadOnlyMountOf(path, program));
        Assert.Equal(1, MountedAt(path)); // the old mount is gone, not stacked under the new one
    }

    [RootFact]
    public void WithoutAPlaceForTheMountTheInstalledProgramIsRun()
    {
        var program = Install("v1");
        var file = Path.Combine(_dir, "a-file");
        File.WriteAllText(file, "");
        Assert.Equal(program, RuntimeBinary.For(program, Path.Combine(file, "mounts"))); // its parent is a file: no directory, no mount
    }

    [GuestFact]
    public void CrunIsRunFromItsReadOnlyMount()
    {
        Assert.True(HostProcess.Find("crun") is not null, "crun is not installed (apt-get install crun)");
        var crun = new OciRuntime(HostProcess.Find("crun")!, "/nonexistent");
        Assert.Equal(Path.Combine(RuntimeBinary.DefaultDirectory, "crun"), crun.Program);
        Assert.True(RuntimeBinary.IsReadOnlyMountOf(crun.Program, crun.Path));
        // what conmon's command line names maps back to the installed runtime
        Assert.Equal(crun.Path, new OciRuntime(crun.Program, "/nonexistent").Path);
        Assert.Equal(crun.Path, OciRuntime.RuntimeOfCreateCommand(crun.CreateCommand().Program, crun.CreateCommand().Args));
        // it still runs, from the mount, as crun
        Assert.Contains("crun version", HostProcess.Run(crun.Program, new[] { "--version" }).StandardOutput);
    }
}
