using System.Globalization;

namespace VServer;

/// <summary>
/// One rlimit of the guest (util-vserver's <c>rlimits/&lt;resource&gt;[.hard|.soft]</c>). A null
/// value leaves that side unset; <see cref="Unlimited"/> is <c>inf</c>.
/// </summary>
public sealed record ResourceLimit(string Resource, ulong? Soft, ulong? Hard)
{
    public const ulong Unlimited = ulong.MaxValue;

    /// <summary>The resources setrlimit(2) knows, by util-vserver's file names.</summary>
    public static readonly IReadOnlyList<string> Resources = new[]
    {
        "as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile", "nproc",
        "rss", "rtprio", "rttime", "sigpending", "stack",
    };

    public static string NormalizeResource(string name)
    {
        var n = name.Trim().ToLowerInvariant();
        if (n.StartsWith("rlimit_", StringComparison.Ordinal))
        {
            n = n["rlimit_".Length..];
        }
        if (!Resources.Contains(n))
        {
            throw new VServerException("InvalidResourceLimit", ErrorKind.InvalidArgument,
                $"'{name}' is not a resource limit. Known: {string.Join(", ", Resources)}.", name);
        }
        return n;
    }

    /// <summary>Parses <c>1024</c>, <c>inf</c>/<c>unlimited</c>.</summary>
    public static ulong ParseValue(string text, string resource)
    {
        var t = text.Trim().ToLowerInvariant();
        if (t is "inf" or "unlimited" or "infinity" or "-1")
        {
            return Unlimited;
        }
        if (ulong.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var v))
        {
            return v;
        }
        throw new VServerException("InvalidResourceLimit", ErrorKind.InvalidArgument,
            $"'{text}' is not a valid value for the resource limit '{resource}': give a whole number or 'inf'.", text);
    }

    /// <summary>Parses a limit given as <c>N</c> (both), <c>soft:hard</c>.</summary>
    public static ResourceLimit Parse(string resource, string value)
    {
        var res = NormalizeResource(resource);
        var colon = value.IndexOf(':');
        var limit = colon < 0
            ? new ResourceLimit(res, ParseValue(value, res), ParseValue(value, res))
            : new ResourceLimit(res, ParseValue(value[..colon], res), ParseValue(value[(colon + 1)..], res));
        return limit.Validated();
    }

    public ResourceLimit Validated()
    {
        if (Soft is ulong s && Hard is ulong h && s > h)
        {
            throw new VServerException("InvalidResourceLimit", ErrorKind.InvalidArgument,
                $"The soft limit {Format(s)} of '{Resource}' is above its hard limit {Format(h)}.", this);
        }
        return this;
    }

    public static string Format(ulong v) => v == Unlimited ? "inf" : v.ToString(CultureInfo.InvariantCulture);

    public override string ToString() => Soft == Hard
        ? $"{Resource}={(Soft is ulong v ? Format(v) : "")}"
        : $"{Resource}={(Soft is ulong s ? Format(s) : "-")}:{(Hard is ulong h ? Format(h) : "-")}";
}
