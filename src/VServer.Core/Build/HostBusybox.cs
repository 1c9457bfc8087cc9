namespace VServer.Build;

/// <summary>The host's statically linked busybox (Debian's <c>busybox-static</c>), the source of Busybox guests.</summary>
public sealed class HostBusybox
{
    private static readonly string[] Candidates = { "/bin/busybox", "/usr/bin/busybox", "/usr/local/bin/busybox" };

    private HostBusybox(string path) => Path = path;

    public string Path { get; }

    /// <summary>Finds busybox: the given path, VSERVER_BUSYBOX, then the usual places.</summary>
    public static HostBusybox Locate(string? path = null)
    {
        path ??= Environment.GetEnvironmentVariable("VSERVER_BUSYBOX");
        var candidates = string.IsNullOrEmpty(path) ? Candidates : new[] { path };
        var found = candidates.FirstOrDefault(File.Exists) ?? throw new VServerException("BusyboxNotFound", ErrorKind.NotInstalled,
            $"No busybox found at {string.Join(", ", candidates)}. Install it with 'apt-get install busybox-static'.", candidates[0]);
        if (!IsStatic(found))
        {
            throw new VServerException("BusyboxNotStatic", ErrorKind.NotInstalled,
                $"{found} is dynamically linked and would not run inside a guest. Install 'busybox-static'.", found);
        }
        return new HostBusybox(System.IO.Path.GetFullPath(found));
    }

    /// <summary>True for an ELF executable without a PT_INTERP program header (no dynamic loader).</summary>
    public static bool IsStatic(string path)
    {
        using var fs = File.OpenRead(path);
        var h = new byte[64];
        if (fs.Read(h, 0, 64) < 52 || h[0] != 0x7f || h[1] != (byte)'E' || h[2] != (byte)'L' || h[3] != (byte)'F' || h[5] != 1)
        {
            return false; // not a little-endian ELF file
        }
        var is64 = h[4] == 2;
        long phoff = is64 ? BitConverter.ToInt64(h, 0x20) : BitConverter.ToUInt32(h, 0x1C);
        int phentsize = BitConverter.ToUInt16(h, is64 ? 0x36 : 0x2A);
        int phnum = BitConverter.ToUInt16(h, is64 ? 0x38 : 0x2C);
        if (phentsize < 4 || phnum > 512)
        {
            return false;
        }
        var ph = new byte[4];
        for (var i = 0; i < phnum; i++)
        {
            fs.Seek(phoff + (long)i * phentsize, SeekOrigin.Begin);
            if (fs.Read(ph, 0, 4) < 4)
            {
                return false;
            }
            if (BitConverter.ToUInt32(ph, 0) == 3 /*PT_INTERP*/)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>The applets with their install paths (<c>busybox --list-full</c>: <c>bin/sh</c>, <c>usr/bin/awk</c>…).</summary>
    public IReadOnlyList<string> Applets()
    {
        // through HostProcess, like every host program: its spawn lock keeps conmon's sync pipe out of this child
        var r = Runtime.HostProcess.Run(Path, new[] { "--list-full" });
        if (r.ExitCode != 0)
        {
            throw new VServerException("BusyboxFailed", ErrorKind.NotSpecified, $"'{Path} --list-full' exited with {r.ExitCode}.", Path);
        }
        var output = r.StandardOutput;
        return output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(a => a.Length > 0 && !a.StartsWith('/') && !a.Split('/').Contains("..") && a != "bin/busybox")
            .ToArray();
    }
}
