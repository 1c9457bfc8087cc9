using System.Text.RegularExpressions;

namespace VServer.Config;

/// <summary>Validation of names and numbers, before anything touches the disk.</summary>
public static partial class Validate
{
    public const int MinContext = 2;
    public const int MaxContext = 49151;
    public const int MaxNameLength = 64;

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_.-]*\\z")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^(?=.{1,64}\\z)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\\z")]
    private static partial Regex HostnamePattern();

    /// <summary>Guest names are used as directory names: a whitelist of characters, no path tricks.</summary>
    public static string GuestName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            throw new VServerException("InvalidName", ErrorKind.InvalidArgument, "The guest name is empty.", name ?? "");
        }
        if (name.Length > MaxNameLength)
        {
            throw new VServerException("InvalidName", ErrorKind.InvalidArgument,
                $"The guest name '{Shorten(name)}' is {name.Length} characters long; at most {MaxNameLength} are allowed.", name);
        }
        if (!NamePattern().IsMatch(name))
        {
            throw new VServerException("InvalidName", ErrorKind.InvalidArgument,
                $"The guest name '{name}' is not valid: use letters, digits, '_', '.' and '-', starting with a letter or digit.", name);
        }
        return name;
    }

    public static bool IsValidGuestName(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= MaxNameLength && NamePattern().IsMatch(name);

    /// <summary>
    /// The name of a guest that is already there: what util-vserver allows of a directory under
    /// /etc/vservers (any file name that does not start with '.'), wider than what VServer gives a
    /// new guest (<see cref="GuestName"/>). Such a guest is listed, started, stopped and renamed;
    /// its host-wide names (run directory, cgroup, network namespace, runtime id) are its <see cref="Runtime.GuestId"/>.
    /// </summary>
    public static string ExistingGuestName(string? name)
    {
        if (IsExistingGuestName(name))
        {
            return name!;
        }
        if (string.IsNullOrEmpty(name))
        {
            throw new VServerException("InvalidName", ErrorKind.InvalidArgument, "The guest name is empty.", name ?? "");
        }
        throw new VServerException("InvalidName", ErrorKind.InvalidArgument,
            $"The guest name '{Shorten(VisibleText.Of(name))}' is not valid: a guest is a directory of the config root, so its name has no '/' or NUL, does not start with '.' and has at most 255 bytes.", name);
    }

    /// <summary>What an administrator is told of a guest whose name only util-vserver allows; null for a name VServer gives.</summary>
    public static string? LegacyNameNote(string name) => IsValidGuestName(name) ? null :
        $"Guest '{VisibleText.Of(name)}' has a name util-vserver allows but VServer would not give a new guest (letters, digits, '_', '.' and '-', at most {MaxNameLength}); " +
        $"it is managed as it is, under the id '{Runtime.GuestId.Of(name)}' in host-wide places. Give it a plain name with Rename-VServerGuest (vserver NAME rename NEWNAME) while it is stopped.";

    public static bool IsExistingGuestName(string? name) =>
        !string.IsNullOrEmpty(name) && name[0] != '.' && name.IndexOfAny(['/', '\0']) < 0
        && System.Text.Encoding.UTF8.GetByteCount(name) <= 255;

    public static int Context(int xid)
    {
        if (xid < MinContext || xid > MaxContext)
        {
            throw new VServerException("InvalidContext", ErrorKind.InvalidArgument,
                $"Context {xid} is out of range: guest contexts are {MinContext} to {MaxContext} (0 is the host, 1 the spectator).", xid);
        }
        return xid;
    }

    public static bool IsValidHostname(string value) => HostnamePattern().IsMatch(value);

    public static string Hostname(string value, string what = "hostname")
    {
        if (!HostnamePattern().IsMatch(value))
        {
            throw new VServerException("InvalidHostname", ErrorKind.InvalidArgument,
                $"The {what} '{Shorten(value)}' is not valid: dot-separated labels of letters, digits and '-', at most 64 characters.", value);
        }
        return value;
    }

    public static long Positive(long value, string errorId, string what)
    {
        if (value <= 0)
        {
            throw new VServerException(errorId, ErrorKind.InvalidArgument, $"The {what} {value} is not valid: it must be greater than 0.", value);
        }
        return value;
    }

    public static double CpuLimit(double cores)
    {
        if (double.IsNaN(cores) || cores < 0.01 || cores > 4096)
        {
            throw new VServerException("InvalidCpuLimit", ErrorKind.InvalidArgument,
                $"The CPU limit {cores} is not valid: give a number of cores from 0.01 to 4096.", cores);
        }
        return cores;
    }

    public static long MemoryLimit(long bytes) => AtLeast(bytes, 4, "InvalidMemoryLimit", "memory limit");

    /// <summary>Swap beyond the memory limit, in bytes: 0 (none, the default) or more.</summary>
    public static long SwapLimit(long bytes) => bytes >= 0 ? bytes : throw new VServerException("InvalidSwapLimit", ErrorKind.InvalidArgument,
        $"The swap limit {bytes} bytes is not valid: give 0 (no swap) or more bytes.", bytes);

    /// <summary>A CPU weight as cgroup v2 and systemd's CPUWeight= count it: 1 to 10000, 100 the default share.</summary>
    public static int CpuWeight(int weight) => weight is >= 1 and <= 10000 ? weight : throw new VServerException("InvalidCpuWeight", ErrorKind.InvalidArgument,
        $"The CPU weight {weight} is not valid: give 1 to 10000 (100 is every guest's default share).", weight);

    public static long DiskLimit(long bytes) => AtLeast(bytes, 1, "InvalidDiskLimit", "disk limit");

    /// <summary>A size in bytes of at least <paramref name="mib"/> MiB, else an error naming the value and the minimum.</summary>
    private static long AtLeast(long bytes, int mib, string errorId, string what)
    {
        var min = (long)mib << 20;
        return bytes >= min ? bytes : throw new VServerException(errorId, ErrorKind.InvalidArgument,
            $"The {what} {bytes} bytes is not valid: at least {min} bytes ({mib} MiB) are needed.", bytes);
    }

    public static int Nice(int nice)
    {
        if (nice < -20 || nice > 19)
        {
            throw new VServerException("InvalidNice", ErrorKind.InvalidArgument, $"The nice value {nice} is not valid: it must be from -20 to 19.", nice);
        }
        return nice;
    }

    internal static string Shorten(string s) => s.Length <= 40 ? s : s[..37] + "...";

    /// <summary>
    /// A template directory for an overlayfs root: an absolute path of an existing directory,
    /// without the characters overlayfs options cannot carry (',', ':', '\\') or control characters.
    /// </summary>
    public static string TemplateDirectory(string path)
    {
        if (!Path.IsPathRooted(path) || path.IndexOfAny(new[] { ',', ':', '\\' }) >= 0 || path.Any(char.IsControl))
        {
            throw new VServerException("InvalidTemplate", ErrorKind.InvalidArgument,
                $"Template '{path}' must be an absolute directory path without ',', ':' or '\\' (overlayfs options cannot carry them).", path);
        }
        var full = Path.GetFullPath(path).TrimEnd('/');
        if (full.Length == 0 || !Directory.Exists(full))
        {
            throw new VServerException("TemplateNotFound", ErrorKind.ObjectNotFound, $"Template directory '{path}' does not exist.", path);
        }
        return full;
    }
}
