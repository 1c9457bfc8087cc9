using System.Text;
using VServer.Storage;

namespace VServer.Build;

/// <summary>
/// A bootable minimal guest from the host's busybox-static: the skeleton tree, <c>/bin/busybox</c>
/// with its applet links (<c>/bin/sh</c>, <c>/sbin/init</c>…), an inittab and rc scripts, and the
/// usual <c>/etc</c> files. Needs no network.
/// </summary>
public sealed class BusyboxBuilder : IRootBuilder
{
    private readonly HostBusybox _busybox;

    public BusyboxBuilder(HostBusybox busybox) => _busybox = busybox;

    public BuildMethod Method => BuildMethod.Busybox;

    public void Preflight() => _ = _busybox.Path;

    private static readonly string[] Directories =
    {
        "bin", "sbin", "usr/bin", "usr/sbin", "etc/init.d", "home", "mnt", "run", "sys", "var/log", "var/run", "var/spool",
    };

    public void Build(GuestRootFs root, GuestConfig config, IOperationReporter reporter, CancellationToken cancel)
    {
        var activity = "Building guest " + config.Name;
        new SkeletonBuilder().Build(root, config, reporter, cancel);

        reporter.Progress(activity, "Creating directories", 30);
        foreach (var d in Directories)
        {
            root.CreateDirectory(d, 0x1ED);
        }
        root.CreateDirectory("tmp", 0x3FF /*1777*/);
        root.CreateDirectory("var/tmp", 0x3FF);
        root.CreateDirectory("root", 0x1C0 /*0700*/);

        reporter.Progress(activity, "Copying " + _busybox.Path, 45);
        root.CopyFromHost(_busybox.Path, "bin/busybox", 0x1ED);

        reporter.Progress(activity, "Linking applets", 60);
        foreach (var applet in _busybox.Applets())
        {
            cancel.ThrowIfCancellationRequested();
            var depth = applet.Count(c => c == '/');
            var target = depth switch
            {
                0 => "bin/busybox",
                1 when applet.StartsWith("bin/", StringComparison.Ordinal) => "busybox",
                _ => string.Concat(Enumerable.Repeat("../", depth)) + "bin/busybox",
            };
            if (root.LStat(applet) is null)
            {
                root.Symlink(target, applet);
            }
        }

        reporter.Progress(activity, "Writing /etc", 85);
        // /etc/hostname and /etc/hosts: GuestNameFiles, written by the store for every build method
        root.WriteText("etc/passwd", "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
        root.WriteText("etc/group", "root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n");
        root.WriteText("etc/shadow", "root:*:0:0:99999:7:::\ndaemon:*:0:0:99999:7:::\nnobody:*:0:0:99999:7:::\n", 0x180);
        root.WriteText("etc/profile", "export PATH=/usr/sbin:/usr/bin:/sbin:/bin\nexport PS1='\\h:\\w\\$ '\n");
        root.WriteText("etc/inittab",
            "# VServer busybox guest. /sbin/init (busybox init) reads this file.\n" +
            "::sysinit:/etc/init.d/rcS\n" +
            "::shutdown:/etc/init.d/rcK\n" +
            "# Stop-VServerGuest sends SIGUSR1 (halt); SIGINT (util-vserver's stop) powers off too.\n" +
            "::ctrlaltdel:/sbin/poweroff\n");
        root.WriteText("etc/init.d/rcS",
            "#!/bin/sh\n# Start-up of a VServer busybox guest: run /etc/init.d/S??* in order.\n" +
            "for s in /etc/init.d/S??*; do [ -x \"$s\" ] && \"$s\" start; done\nexit 0\n", 0x1ED);
        root.WriteText("etc/init.d/rcK",
            "#!/bin/sh\n# Shutdown of a VServer busybox guest: stop /etc/init.d/S??* in reverse order.\n" +
            "for s in $(ls -r /etc/init.d/S??* 2>/dev/null); do [ -x \"$s\" ] && \"$s\" stop; done\nexit 0\n", 0x1ED);
        reporter.Progress(activity, "Done", 100);
    }
}
