namespace VServer.Build;

/// <summary>Fills a fresh, empty guest root (a staging directory) for one build method.</summary>
public interface IRootBuilder
{
    BuildMethod Method { get; }

    /// <summary>Checks what the build needs (host files, privileges) before anything is created.</summary>
    void Preflight();

    void Build(Storage.GuestRootFs root, GuestConfig config, IOperationReporter reporter, CancellationToken cancel);
}

public static class RootBuilders
{
    /// <param name="source">Clone: the directory to copy; Template: the template directory.</param>
    /// <param name="debootstrap">Debootstrap: what to install (defaults: the host's distribution, its first Debian mirror, minbase).</param>
    public static IRootBuilder For(BuildMethod method, string? busyboxPath = null, string? source = null, DebootstrapOptions? debootstrap = null) => method switch
    {
        BuildMethod.Debootstrap => new DebootstrapBuilder(debootstrap ?? new DebootstrapOptions()),
        BuildMethod.Skeleton => new SkeletonBuilder(),
        BuildMethod.Busybox => new BusyboxBuilder(HostBusybox.Locate(busyboxPath)),
        BuildMethod.Clone => new CloneBuilder(source ?? throw NeedsSource(method)),
        BuildMethod.Template => new TemplateBuilder(source ?? throw NeedsSource(method)),
        BuildMethod.Archive => new ArchiveBuilder(source ?? throw NeedsSource(method)),
        _ => throw new VServerException("InvalidBuildMethod", ErrorKind.InvalidArgument, $"'{method}' is not a build method.", method),
    };

    private static VServerException NeedsSource(BuildMethod method) => new("SourceRequired", ErrorKind.InvalidArgument,
        $"The {method} method needs -Source: " + (method == BuildMethod.Clone ? "a guest name or a directory to copy." : "the template directory."), method);
}
