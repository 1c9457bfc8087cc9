using VServer.Native;
using VServer.Storage;

namespace VServer.Build;

/// <summary>
/// util-vserver's <c>skeleton</c> method (seed 003, Abbildung 4): <c>dev/</c> with the usual
/// nodes, <c>dev/pts</c>, <c>etc/resolv.conf</c> copied from the host, <c>proc/</c>.
/// </summary>
public sealed class SkeletonBuilder : IRootBuilder
{
    /// <summary>The device nodes of the skeleton tree: name, major, minor, mode.</summary>
    public static readonly IReadOnlyList<(string Name, uint Major, uint Minor, int Mode)> Devices = new[]
    {
        ("full", 1u, 7u, 0x1B6), ("null", 1u, 3u, 0x1B6), ("ptmx", 5u, 2u, 0x1B6), ("random", 1u, 8u, 0x1B6),
        ("tty", 5u, 0u, 0x1B6), ("urandom", 1u, 9u, 0x1B6), ("zero", 1u, 5u, 0x1B6),
    };

    public BuildMethod Method => BuildMethod.Skeleton;

    public string HostResolvConf { get; init; } = "/etc/resolv.conf";

    public void Preflight()
    {
    }

    public void Build(GuestRootFs root, GuestConfig config, IOperationReporter reporter, CancellationToken cancel)
    {
        reporter.Progress("Building guest " + config.Name, "Creating the skeleton tree", 10);
        root.CreateDirectory("dev", 0x1ED);
        root.CreateDirectory("dev/pts", 0x1ED);
        root.CreateDirectory("etc", 0x1ED);
        root.CreateDirectory("proc", 0x16D /*0555*/);
        var skipped = false;
        foreach (var (name, major, minor, mode) in Devices)
        {
            cancel.ThrowIfCancellationRequested();
            try
            {
                root.CharDevice("dev/" + name, major, minor, mode);
            }
            catch (SyscallException e) when (e.ErrnoValue is Errno.EPERM or Errno.EACCES)
            {
                skipped = true;
            }
        }
        if (skipped)
        {
            reporter.Warning($"Device nodes in {root.HostPath}/dev were not created ({Environment.UserName} lacks CAP_MKNOD); the runtime provides /dev when the guest starts.");
        }
        if (File.Exists(HostResolvConf))
        {
            root.CopyFromHost(HostResolvConf, "etc/resolv.conf", 0x1A4);
        }
        else
        {
            reporter.Verbose($"{HostResolvConf} does not exist on the host; the guest gets no resolv.conf.");
        }
    }
}
