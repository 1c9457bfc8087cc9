using System.Diagnostics;
using System.Globalization;
using VServer.Runtime;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// The start's watch over a new init (GuestInitFailed, or the guest reported running): on host
/// processes standing in for an init, with a directory holding the one pid a cgroup would hold
/// (no root needed).
/// </summary>
public sealed class InitWatchTests : IDisposable
{
    private readonly string _cgroup = Directory.CreateTempSubdirectory("vserver-initwatch-").FullName;
    private readonly List<Process> _processes = new();

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            try { p.Kill(); p.WaitForExit(); } catch (InvalidOperationException) { }
            p.Dispose();
        }
        Directory.Delete(_cgroup, true);
    }

    /// <summary>Starts <c>sh -c SCRIPT</c> and waits until it has become <paramref name="comm"/> (its exec done); the cgroup holds it alone.</summary>
    private (int Pid, ulong Ticks) Init(string script, string comm)
    {
        var p = Process.Start(new ProcessStartInfo("/bin/sh") { ArgumentList = { "-c", script } })!;
        _processes.Add(p);
        var deadline = Stopwatch.StartNew();
        while (ProcFs.Stat(p.Id)?.Comm != comm)
        {
            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), $"the stand-in init did not become {comm}");
            Thread.Sleep(5);
        }
        File.WriteAllText(Path.Combine(_cgroup, "cgroup.procs"), p.Id.ToString(CultureInfo.InvariantCulture) + "\n");
        return (p.Id, ProcFs.StartTicks(p.Id)!.Value);
    }

    [Fact]
    public void AnInitThatHasAlreadyReapedItsFirstChildIsSettledAtOnce()
    {
        // busybox init with no services: its rcS has come and gone before the first look
        var (pid, ticks) = Init("/bin/true; exec sleep 30", "sleep");
        var sw = Stopwatch.StartNew();
        Assert.True(GuestRuntime.InitSettles(pid, ticks, _cgroup, childFaults: 0));
        Assert.True(sw.Elapsed < GuestRuntime.InitWatch / 2, $"the watch took {sw.Elapsed.TotalMilliseconds:F0} ms: it waited for a second process that had already ended");
    }

    [Fact]
    public void AnInitThatHasNotStartedItsWorkIsWatchedForTheWholeWindow()
    {
        // the children's faults counted before the start are the runtime's, not init's work
        var (pid, ticks) = Init("/bin/true; exec sleep 30", "sleep");
        var before = ProcFs.Stat(pid)!.ChildMinorFaults;
        Assert.True(before > 0);
        var sw = Stopwatch.StartNew();
        Assert.True(GuestRuntime.InitSettles(pid, ticks, _cgroup, before));
        Assert.True(sw.Elapsed >= GuestRuntime.InitWatch, $"the watch ended after {sw.Elapsed.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public void AnInitThatDiesInTheWindowIsNotSettled()
    {
        var (pid, ticks) = Init("exec sleep 0.2", "sleep");
        Assert.False(GuestRuntime.InitSettles(pid, ticks, _cgroup, childFaults: 0));
    }
}
