namespace VServer.Runtime;

/// <summary>
/// util-vserver's scriptlets: the host administrator's own scripts in the guest's configuration
/// directory (<c>scripts/TYPE</c> and <c>scripts/TYPE.d/*</c>, then <c>.defaults/scripts</c> when
/// the guest has none), run on the host at the points util-vserver runs them, with its
/// arguments (<c>TYPE NAME</c>). They are configuration, never a guest's file: nothing under a
/// guest's root is ever run. An executable script is run; another is given to /bin/sh (util-vserver
/// sources those into its own shell, which VServer has not).
/// </summary>
public static class GuestHooks
{
    /// <summary>The points, in util-vserver's order: initialize, prepre-start and pre-start before the guest's init; then post-start; pre-stop, post-stop and postpost-stop around a stop.</summary>
    public static readonly IReadOnlyList<string> Types = new[] { "initialize", "prepre-start", "pre-start", "post-start", "pre-stop", "post-stop", "postpost-stop" };

    /// <summary>The scripts of one point, in the order they run.</summary>
    public static IReadOnlyList<string> Scripts(VServerPaths paths, string guest, string type)
    {
        foreach (var dir in new[] { Path.Combine(paths.ConfigDir(guest), "scripts"), Path.Combine(paths.ConfigRoot, ".defaults", "scripts") })
        {
            var found = new List<string>();
            var main = Path.Combine(dir, type);
            if (File.Exists(main))
            {
                found.Add(main);
            }
            var d = Path.Combine(dir, type + ".d");
            if (Directory.Exists(d))
            {
                found.AddRange(Directory.GetFiles(d).Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal));
            }
            if (found.Count > 0)
            {
                return found;
            }
        }
        return Array.Empty<string>();
    }

    /// <summary>
    /// Runs the scripts of one point. A failing script of a point before the start fails the start
    /// (GuestHookFailed, naming it and what it printed); after the start or around a stop it is a warning.
    /// </summary>
    public static void Run(VServerPaths paths, string guest, string type, IOperationReporter reporter)
    {
        foreach (var script in Scripts(paths, guest, type))
        {
            var executable = (File.GetUnixFileMode(script) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0;
            var file = executable ? script : "/bin/sh";
            var args = executable ? new[] { type, guest } : new[] { script, type, guest };
            reporter.Verbose($"Guest '{guest}': running the {type} script {script}.");
            var r = HostProcess.Run(file, args, environment: new Dictionary<string, string>
            {
                ["VSERVER_NAME"] = guest,
                ["VSERVER_DIR"] = paths.ConfigDir(guest),
            });
            if (r.ExitCode == 0)
            {
                continue;
            }
            var said = OciRuntime.FirstLine(r.StandardError.Length > 0 ? r.StandardError : r.StandardOutput, "no message");
            if (type is "initialize" or "prepre-start" or "pre-start")
            {
                throw new VServerException("GuestHookFailed", ErrorKind.InvalidOperation,
                    $"Guest '{guest}': the {type} script {script} exited with {r.ExitCode} ({said}); the guest was not started.", script);
            }
            reporter.Warning($"Guest '{guest}': the {type} script {script} exited with {r.ExitCode} ({said}).");
        }
    }
}
