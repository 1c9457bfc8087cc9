using VServer.Storage;

namespace VServer.Cli;

/// <summary>
/// util-vserver's <c>service</c> and <c>chkconfig</c>: fixed /bin/sh scripts that run inside the
/// guest (as any exec does, in its namespaces and under its limits) and ask the guest's own init
/// system; the service name and action are arguments, never part of the script. Nothing of the
/// guest runs on the host.
/// </summary>
internal static class GuestServices
{
    // $1 the service, then the action and its arguments. systemd when it runs the guest
    // (sd_booted's test), else service(8), else the script in /etc/init.d.
    private const string ServiceScript =
        "svc=$1; shift\n" +
        "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then exec systemctl \"$@\" -- \"$svc\"; fi\n" +
        "if command -v service >/dev/null 2>&1; then exec service \"$svc\" \"$@\"; fi\n" +
        "if [ -x \"/etc/init.d/$svc\" ]; then exec \"/etc/init.d/$svc\" \"$@\"; fi\n" +
        "echo \"service $svc: not found in this guest (no systemctl, service or /etc/init.d/$svc)\" >&2; exit 1\n";

    // $1 the service, $2 on, off or nothing (show)
    private const string ChkConfigScript =
        "svc=$1; want=$2\n" +
        "if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then\n" +
        "  case $want in on) exec systemctl enable -- \"$svc\";; off) exec systemctl disable -- \"$svc\";; *) exec systemctl is-enabled -- \"$svc\";; esac\n" +
        "fi\n" +
        "if command -v chkconfig >/dev/null 2>&1; then if [ -n \"$want\" ]; then exec chkconfig \"$svc\" \"$want\"; else exec chkconfig --list \"$svc\"; fi; fi\n" +
        "if command -v update-rc.d >/dev/null 2>&1; then\n" +
        "  case $want in on) update-rc.d \"$svc\" defaults >/dev/null && exec update-rc.d \"$svc\" enable;; off) exec update-rc.d \"$svc\" disable;;\n" +
        "  *) ls /etc/rc?.d/S??\"$svc\" 2>/dev/null | grep -q . && echo enabled || { echo disabled; exit 1; };; esac\n" +
        "fi\n" +
        "echo \"chkconfig $svc: this guest has no systemctl, chkconfig or update-rc.d\" >&2; exit 1\n";

    /// <summary>The command line that runs <c>service SVC ACTION…</c> inside the guest.</summary>
    public static string[] Service(string service, IEnumerable<string> actionAndArgs) =>
        new[] { "/bin/sh", "-c", ServiceScript, "vserver-service", service }.Concat(actionAndArgs).ToArray();

    /// <summary>The command line that turns a service on or off at the guest's boot (null: shows it).</summary>
    public static string[] ChkConfig(string service, string? onOff) =>
        new[] { "/bin/sh", "-c", ChkConfigScript, "vserver-chkconfig", service, onOff ?? "" };

    /// <summary>
    /// The guest's reference for unification: the first of <c>apps/vunify/refserver.*</c> (util-vserver's
    /// links to the reference guests' configuration directories), read as a link, never followed.
    /// Null when it has none or the link does not name a guest.
    /// </summary>
    public static string? ReferenceOf(GuestStore store, string name)
    {
        var dir = Path.Combine(store.Paths.ConfigDir(name), "apps", "vunify");
        if (!Directory.Exists(dir))
        {
            return null;
        }
        foreach (var link in Directory.GetFileSystemEntries(dir, "refserver.*").Order(StringComparer.Ordinal))
        {
            var target = new FileInfo(link).LinkTarget;
            if (target is null)
            {
                continue;
            }
            var full = Path.GetFullPath(target, dir).TrimEnd('/');
            var candidate = Path.GetFileName(full);
            if (Path.GetDirectoryName(full) == store.Paths.ConfigRoot && store.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }
}
