namespace VServer;

/// <summary>Where configuration, guest roots and run-time state live on this host.</summary>
public sealed record VServerPaths(string ConfigRoot, string VdirRoot, string RunRoot)
{
    public const string DefaultConfigRoot = "/etc/vservers";
    public const string DefaultVdirRoot = "/vservers";
    public const string DefaultRunRoot = "/run/vservers";

    /// <summary>From VSERVER_CONFIG_ROOT, VSERVER_VDIR_ROOT and VSERVER_RUN_ROOT, else the util-vserver defaults.</summary>
    public static VServerPaths FromEnvironment()
    {
        static string Get(string name, string fallback)
        {
            var v = Environment.GetEnvironmentVariable(name);
            return string.IsNullOrWhiteSpace(v) ? fallback : Path.GetFullPath(v);
        }
        return new VServerPaths(
            Get("VSERVER_CONFIG_ROOT", DefaultConfigRoot),
            Get("VSERVER_VDIR_ROOT", DefaultVdirRoot),
            Get("VSERVER_RUN_ROOT", DefaultRunRoot));
    }

    public string ConfigDir(string name) => Path.Combine(ConfigRoot, name);

    public string DefaultRootDir(string name) => Path.Combine(VdirRoot, name);

    public string LockFile => Path.Combine(ConfigRoot, ".lock");

    /// <summary>
    /// This installation's key in host-wide names (cgroups, network namespaces, host links): empty
    /// for the default run root, else 8 hex digits of a hash of the run root. Two installations
    /// (different VSERVER_RUN_ROOTs) with a guest of the same name so never share a cgroup, a
    /// network namespace or a veth.
    /// </summary>
    public string InstallationKey => RunRoot == DefaultRunRoot ? ""
        : Convert.ToHexString(System.IO.Hashing.XxHash32.Hash(System.Text.Encoding.UTF8.GetBytes(RunRoot))).ToLowerInvariant();
}
