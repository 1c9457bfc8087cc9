namespace VServer.Runtime;

/// <summary>
/// The one way VServer runs iproute2: an argument list (never a shell string); a failure names
/// the command and carries ip's own message.
/// </summary>
public static class Ip
{
    private static string Path => HostProcess.Find("ip") ?? throw new VServerException("IpNotFound", ErrorKind.NotInstalled,
        "iproute2 (the ip command) is not installed (Debian package iproute2); guest networking needs it.", "ip");

    /// <summary>Runs <c>ip ARGS</c>; throws NetworkSetupFailed with the command and ip's message when it fails.</summary>
    public static string Run(params string[] args)
    {
        var r = HostProcess.Run(Path, args);
        if (r.ExitCode != 0)
        {
            throw new VServerException("NetworkSetupFailed", ErrorKind.InvalidOperation,
                $"'ip {string.Join(' ', args)}' failed: {OciRuntime.FirstLine(r.StandardError, "exit code " + r.ExitCode)}", string.Join(' ', args));
        }
        return r.StandardOutput;
    }

    /// <summary>
    /// Runs several ip commands in one process (<c>ip [-n NETNS] -batch -</c>), in order, stopping at
    /// the first that fails; NetworkSetupFailed names that command and ip's message. The words are
    /// interface names, addresses and keywords, never with blanks or quotes (checked).
    /// </summary>
    public static void Batch(string? netns, IReadOnlyList<string[]> commands)
    {
        if (commands.Count == 0)
        {
            return;
        }
        if (commands.SelectMany(c => c).FirstOrDefault(w => w.Length == 0 || w.Any(ch => char.IsWhiteSpace(ch) || ch is '"' or '\'' or '\\' or '#')) is string bad)
        {
            throw new VServerException("NetworkSetupFailed", ErrorKind.InvalidArgument, $"'{bad}' cannot be given to ip.", bad);
        }
        var args = netns is null ? new[] { "-batch", "-" } : new[] { "-n", netns, "-batch", "-" };
        var r = HostProcess.Run(Path, args, input: string.Join("\n", commands.Select(c => string.Join(' ', c))) + "\n");
        if (r.ExitCode != 0)
        {
            // "Command failed -:N" names the line
            var failed = System.Text.RegularExpressions.Regex.Match(r.StandardError, @"Command failed -:(\d+)") is { Success: true } m
                && int.TryParse(m.Groups[1].Value, out var line) && line >= 1 && line <= commands.Count ? commands[line - 1] : commands[0];
            var shown = (netns is null ? "" : "-n " + netns + " ") + string.Join(' ', failed);
            var why = r.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .FirstOrDefault(l => !l.StartsWith("Command failed", StringComparison.Ordinal)) ?? "exit code " + r.ExitCode;
            throw new VServerException("NetworkSetupFailed", ErrorKind.InvalidOperation, $"'ip {shown}' failed: {why}", shown);
        }
    }

    /// <summary>Runs <c>ip ARGS</c>; false when it fails (for probes and best-effort teardown).</summary>
    public static bool TryRun(params string[] args) => HostProcess.Run(Path, args).ExitCode == 0;
}
