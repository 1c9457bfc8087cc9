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

    /// <summary>Runs <c>ip ARGS</c>; false when it fails (for probes and best-effort teardown).</summary>
    public static bool TryRun(params string[] args) => HostProcess.Run(Path, args).ExitCode == 0;
}
