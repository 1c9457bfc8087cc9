namespace VServer.Config;

/// <summary>
/// Context flags (util-vserver's <c>cflags</c>, legacy <c>flags</c> and S_FLAGS) that VServer gives
/// a meaning on today's kernels. Anything else is refused on input.
/// </summary>
public static class GuestFlags
{
    public static readonly IReadOnlyDictionary<string, string> Known = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["lock"] = "no new namespaces inside the guest",
        ["nproc"] = "the nproc resource limit becomes the guest's process (pids) limit",
        ["sched"] = "CPU weight for the guest as a whole",
        ["private"] = "no exec or enter from the host",
        ["fakeinit"] = "the guest's init is pid 1 (always so in a PID namespace)",
        ["virt_uptime"] = "the guest sees its own uptime (time namespace)",
    };

    public static string Normalize(string flag)
    {
        var f = flag.Trim().ToLowerInvariant();
        if (!Known.ContainsKey(f))
        {
            throw new VServerException("InvalidFlag", ErrorKind.InvalidArgument,
                $"'{flag}' is not a known guest flag. Known flags: {string.Join(", ", Known.Keys)}.", flag);
        }
        return f;
    }

    public static IReadOnlyList<string> NormalizeAll(IEnumerable<string> flags) => flags.Select(Normalize).Distinct().ToArray();
}
