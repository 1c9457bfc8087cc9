using System.IO.Compression;

namespace VServer.Runtime;

/// <summary>The running kernel's build options, from <c>/proc/config.gz</c> where the kernel exposes it (read once).</summary>
public static class KernelConfig
{
    private static readonly Lazy<Dictionary<string, string>?> Options = new(() => Read("/proc/config.gz"));

    /// <summary>An option's value ("y", "m", a number), "n" when the kernel was built without it, null when the kernel does not say.</summary>
    public static string? Get(string option) =>
        Options.Value is not { } o ? null : o.TryGetValue(option, out var v) ? v : "n";

    internal static Dictionary<string, string>? Read(string path)
    {
        try
        {
            using var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress);
            using var reader = new StreamReader(gz);
            var options = new Dictionary<string, string>(StringComparer.Ordinal);
            while (reader.ReadLine() is string line)
            {
                var eq = line.IndexOf('=');
                if (line.StartsWith("CONFIG_", StringComparison.Ordinal) && eq > 0)
                {
                    options[line[..eq]] = line[(eq + 1)..];
                }
            }
            return options;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            return null;
        }
    }
}
