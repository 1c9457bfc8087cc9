using VServer.Runtime;
using VServer.Storage;

namespace VServer.Build;

/// <summary>
/// The Clone method: a copy of another guest's root or of a directory, made by the host's
/// <c>cp -a --reflink=auto</c>. Where the filesystem can (XFS with reflink, btrfs) every file
/// shares the source's extents from birth; elsewhere it is a full copy. Owners, modes, times,
/// hard links, xattrs, device nodes and symlinks are kept; no symlink is followed.
/// </summary>
public sealed class CloneBuilder : IRootBuilder
{
    public CloneBuilder(string source) => Source = source;

    /// <summary>The directory copied (a guest's root or a directory given by the administrator).</summary>
    public string Source { get; }

    /// <summary>
    /// The guests whose trees the copy reads (set by the store): each is kept from starting (its lock)
    /// and, if it runs, frozen for the copy, so no guest process can swap a directory for a symlink
    /// while <c>cp</c> walks it by path. A tree at rest holds no trap for <c>cp -a</c>: it copies
    /// symlinks as symlinks.
    /// </summary>
    public IReadOnlyList<(RunDirectory Run, string Cgroup)> Guests { get; set; } = Array.Empty<(RunDirectory, string)>();

    public BuildMethod Method => BuildMethod.Clone;

    public void Preflight()
    {
        if (!Directory.Exists(Source) || new DirectoryInfo(Source).LinkTarget is not null)
        {
            throw new VServerException("SourceNotFound", ErrorKind.ObjectNotFound, $"Clone source '{Source}' is not a directory.", Source);
        }
        if (HostProcess.Find("cp") is null)
        {
            throw new VServerException("CopyToolNotFound", ErrorKind.NotInstalled, "cp (coreutils) is needed to clone a guest.", "cp");
        }
    }

    /// <summary>Whether the staging root is already a snapshot of <see cref="Source"/> (<see cref="TrySnapshot"/>): Build then copies nothing.</summary>
    public bool Snapshotted { get; private set; }

    /// <summary>
    /// On a btrfs guest store, when the source is a subvolume of the same filesystem: the new root
    /// (<paramref name="staging"/>, which must not exist) made as a snapshot of it, with the source
    /// guests held and frozen as for a copy. False, with nothing made, when btrfs cannot snapshot it here.
    /// </summary>
    public bool TrySnapshot(string staging, IOperationReporter reporter)
    {
        if (!Storage.Btrfs.IsSubvolume(Source))
        {
            return false;
        }
        using (HoldSources(reporter))
        {
            try
            {
                Storage.Btrfs.Snapshot(Source, staging);
            }
            catch (VServerException e)
            {
                reporter.Verbose($"{Source} could not be snapshotted ({e.Message}); it is copied instead.");
                return false;
            }
        }
        reporter.Verbose($"The new root is a btrfs snapshot of {Source}: every extent is shared until one side writes it.");
        return Snapshotted = true;
    }

    /// <summary>Each source guest kept from starting (its lock) and, while it runs, frozen: undone by disposing.</summary>
    private IDisposable HoldSources(IOperationReporter reporter)
    {
        var held = new List<IDisposable>();
        try
        {
            foreach (var (run, cgroup) in Guests)
            {
                held.Add(run.Lock());
                if (!TestSeams.CloneWithoutFreeze && Cgroups.Freeze(cgroup, TimeSpan.FromSeconds(30)) is IDisposable frozen)
                {
                    reporter.Verbose($"Guest '{run.Name}' is frozen while its tree is copied.");
                    held.Add(frozen);
                }
            }
        }
        catch
        {
            Release(held);
            throw;
        }
        return new Held(held);
    }

    private static void Release(List<IDisposable> held)
    {
        for (var i = held.Count - 1; i >= 0; i--)
        {
            held[i].Dispose();
        }
    }

    private sealed class Held(List<IDisposable> held) : IDisposable
    {
        public void Dispose() => Release(held);
    }

    public void Build(GuestRootFs root, GuestConfig config, IOperationReporter reporter, CancellationToken cancel)
    {
        if (Snapshotted)
        {
            GuestIdentity.Renew(root, reporter);
            reporter.Progress("Building guest " + config.Name, "Snapshotted", 100);
            return;
        }
        reporter.Progress("Building guest " + config.Name, $"Copying {Source}", 10);
        ProcessResult r;
        using (HoldSources(reporter))
        {
            // SOURCE/. copies the directory's contents into the (empty) staging root
            r = HostProcess.Run(HostProcess.Find("cp")!, new[] { "-a", "--reflink=auto", "--", Source.TrimEnd('/') + "/.", root.HostPath }, cancel);
        }
        if (r.ExitCode != 0)
        {
            throw new VServerException("CloneFailed", ErrorKind.WriteError,
                $"Copying {Source} for guest '{config.Name}' failed: {OciRuntime.FirstLine(r.StandardError, "cp exited " + r.ExitCode)}", config.Name);
        }
        // a clone is a guest of its own: its own machine-id and SSH host keys
        GuestIdentity.Renew(root, reporter);
        reporter.Progress("Building guest " + config.Name, "Copied", 100);
    }
}

/// <summary>
/// The Template method: the guest's root is an overlayfs mount whose lower layer is a shared
/// template directory, so every guest made from it shares the template's files on any
/// filesystem. The root directory itself stays empty (the mount point); the layers are made by the store.
/// </summary>
public sealed class TemplateBuilder : IRootBuilder
{
    public TemplateBuilder(string template) => Template = Config.Validate.TemplateDirectory(template);

    public string Template { get; }

    public BuildMethod Method => BuildMethod.Template;

    public void Preflight()
    {
        Config.Validate.TemplateDirectory(Template);
        if (!File.ReadAllText("/proc/filesystems").Contains("\toverlay\n", StringComparison.Ordinal))
        {
            throw new VServerException("OverlayNotSupported", ErrorKind.NotInstalled, "This kernel has no overlayfs (modprobe overlay).", "overlay");
        }
    }

    public void Build(GuestRootFs root, GuestConfig config, IOperationReporter reporter, CancellationToken cancel)
    {
        config.Template = Template;
        reporter.Verbose($"Guest '{config.Name}' uses template {Template} as the lower layer of its root.");
    }
}
