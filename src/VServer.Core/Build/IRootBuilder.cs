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
    public static IRootBuilder For(BuildMethod method, string? busyboxPath = null) => method switch
    {
        BuildMethod.Skeleton => new SkeletonBuilder(),
        BuildMethod.Busybox => new BusyboxBuilder(HostBusybox.Locate(busyboxPath)),
        _ => throw new VServerException("InvalidBuildMethod", ErrorKind.InvalidArgument, $"'{method}' is not a build method.", method),
    };
}
