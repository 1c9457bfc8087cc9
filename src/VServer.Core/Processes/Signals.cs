using System.Globalization;

namespace VServer.Processes;

/// <summary>Signal names and numbers as kill(1) spells them (Linux numbering: x86, arm, arm64).</summary>
public static class Signals
{
    private static readonly string[] Names =
    {
        "", "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE",
        "ALRM", "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ",
        "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
    };

    public const int RtMin = 34, RtMax = 64;

    /// <summary>The signal names kill(1) knows, without SIG (for tab completion).</summary>
    public static IReadOnlyList<string> Known => Names.Skip(1).Concat(new[] { "RTMIN", "RTMAX" }).ToArray();

    /// <summary>A signal number from a name (TERM, SIGTERM, sigkill, RTMIN+2) or a number 1–64.</summary>
    public static int Parse(string text)
    {
        var t = text.Trim();
        if (int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var n))
        {
            return n is >= 1 and <= RtMax ? n : throw Bad(text);
        }
        var name = t.ToUpperInvariant();
        if (name.StartsWith("SIG", StringComparison.Ordinal))
        {
            name = name[3..];
        }
        var i = Array.IndexOf(Names, name);
        if (i > 0)
        {
            return i;
        }
        switch (name)
        {
            case "POLL": return 29;
            case "IOT": return 6;
            case "CLD": return 17;
            case "RTMIN": return RtMin;
            case "RTMAX": return RtMax;
        }
        if (name.StartsWith("RTMIN+", StringComparison.Ordinal) && int.TryParse(name[6..], NumberStyles.None, CultureInfo.InvariantCulture, out var plus) && RtMin + plus <= RtMax)
        {
            return RtMin + plus;
        }
        if (name.StartsWith("RTMAX-", StringComparison.Ordinal) && int.TryParse(name[6..], NumberStyles.None, CultureInfo.InvariantCulture, out var minus) && RtMax - minus >= RtMin)
        {
            return RtMax - minus;
        }
        throw Bad(text);
    }

    /// <summary>SIGTERM, SIGRTMIN+2, …</summary>
    public static string Name(int signal) => signal switch
    {
        > 0 and < 32 => "SIG" + Names[signal],
        RtMin => "SIGRTMIN",
        RtMax => "SIGRTMAX",
        > RtMin and < RtMax => "SIGRTMIN+" + (signal - RtMin).ToString(CultureInfo.InvariantCulture),
        _ => signal.ToString(CultureInfo.InvariantCulture),
    };

    private static VServerException Bad(string text) => new("InvalidSignal", ErrorKind.InvalidArgument,
        $"'{text}' is not a signal: give a name (TERM, KILL, HUP, USR1, RTMIN+1 …) or a number from 1 to {RtMax}.", text);
}
