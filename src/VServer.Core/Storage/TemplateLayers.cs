using VServer.Native;

namespace VServer.Storage;

/// <summary>
/// The overlayfs root of a Template guest: the template directory is the read-only lower layer
/// shared by every guest made from it; the guest's own changes live in <c>ROOT.layers/upper</c>
/// (with overlayfs's <c>work</c> beside it). The root is mounted at start and unmounted at stop.
/// </summary>
public static class TemplateLayers
{
    public static string LayersOf(string root) => root.TrimEnd('/') + ".layers";

    public static string UpperOf(string root) => Path.Combine(LayersOf(root), "upper");

    public static string WorkOf(string root) => Path.Combine(LayersOf(root), "work");

    /// <summary>Creates the (empty) upper and work directories next to a root.</summary>
    public static void Create(string root)
    {
        Directory.CreateDirectory(UpperOf(root), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
            UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        Directory.CreateDirectory(WorkOf(root), UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
    }

    /// <summary>Mounts the overlay on the root (the template as lower layer); returns the mount point.</summary>
    public static string Mount(string guest, string template, string root)
    {
        var lower = Config.Validate.TemplateDirectory(template);
        if (!Directory.Exists(UpperOf(root)) || !Directory.Exists(WorkOf(root)))
        {
            throw new VServerException("TemplateLayersMissing", ErrorKind.ObjectNotFound,
                $"Guest '{guest}': the overlay layers {LayersOf(root)} are missing; the guest's own files lived there.", guest);
        }
        Unmount(root); // a mount left by a crash
        try
        {
            Sys.Mount("overlay", root, "overlay", $"lowerdir={lower},upperdir={UpperOf(root)},workdir={WorkOf(root)}");
        }
        catch (SyscallException e)
        {
            throw new VServerException("TemplateMountFailed", ErrorKind.InvalidOperation,
                $"Guest '{guest}': mounting its overlay root {root} (template {lower}) failed: {e.Message}", guest, e);
        }
        return root;
    }

    /// <summary>Unmounts an overlay root if one is mounted there.</summary>
    public static void Unmount(string root)
    {
        while (MountTable.MountPoints().Contains(root.TrimEnd('/')) && Sys.Unmount(root))
        {
        }
    }
}
