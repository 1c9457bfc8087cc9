using System.Collections.ObjectModel;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using VServer.Tests.Shared;
using Xunit;

[assembly: CollectionBehavior(DisableTestParallelization = true)] // the roots are process environment variables

namespace VServer.Tests;

/// <summary>A runspace with the staged module imported and this test's own roots.</summary>
public sealed class PowerShellSession : IDisposable
{
    private readonly StringWriter _out = new();
    private readonly StringWriter _err = new();
    private readonly Runspace _runspace;

    /// <param name="paths">Roots to use instead of this session's own temporary ones (a loop filesystem, say).</param>
    public PowerShellSession(VServerPaths? paths = null)
    {
        Roots = new TempRoots();
        Paths = paths ?? Roots.Paths;
        Environment.SetEnvironmentVariable("VSERVER_CONFIG_ROOT", Paths.ConfigRoot);
        Environment.SetEnvironmentVariable("VSERVER_VDIR_ROOT", Paths.VdirRoot);
        Environment.SetEnvironmentVariable("VSERVER_RUN_ROOT", Paths.RunRoot);
        _runspace = RunspaceFactory.CreateRunspace(new TextHost(_out, _err), InitialSessionState.CreateDefault2());
        _runspace.Open();
        Invoke("$PSStyle.OutputRendering = 'PlainText'");
        Invoke($"Import-Module '{ModuleManifest}' -ErrorAction Stop");
    }

    /// <summary>A guest name of its own: cgroup paths are host-wide, and other test processes make guests too.</summary>
    public static string Unique(string prefix) => prefix + Guid.NewGuid().ToString("N")[..6];

    /// <summary>A session in which these Busybox guests exist (and, when asked, run).</summary>
    public static PowerShellSession WithGuests(string[] names, bool start = false)
    {
        var s = new PowerShellSession();
        foreach (var n in names)
        {
            s.Invoke($"New-VServerGuest {n} -Method Busybox | Out-Null");
            Assert.Empty(s.Errors);
        }
        if (start)
        {
            s.Invoke($"Start-VServerGuest {string.Join(',', names)} -ThrottleLimit 4");
            Assert.Empty(s.Errors);
        }
        return s;
    }

    public static string ModuleManifest => Path.Combine(TestEnvironment.RepoRoot, "output", "VServer", "VServer.psd1");

    public TempRoots Roots { get; }

    /// <summary>The roots the module uses in this session.</summary>
    public VServerPaths Paths { get; }

    public Collection<ErrorRecord> Errors { get; } = new();

    /// <summary>Runs a script; its errors are collected in <see cref="Errors"/> (cleared on each call).</summary>
    public Collection<PSObject> Invoke(string script)
    {
        using var ps = PowerShell.Create(_runspace);
        ps.AddScript(script);
        var result = ps.Invoke();
        Errors.Clear();
        foreach (var e in ps.Streams.Error)
        {
            Errors.Add(e);
        }
        return result;
    }

    /// <summary>
    /// Starts a script that runs until stopped (Get-VServerLog -Wait), runs <paramref name="meanwhile"/>,
    /// then stops it (Ctrl+C) once <paramref name="done"/> holds for its output or <paramref name="seconds"/> pass.
    /// Returns its output and whether it ended when stopped.
    /// </summary>
    public (IReadOnlyList<PSObject> Output, bool Ended) InvokeUntil(string script, Action meanwhile, Func<IReadOnlyList<PSObject>, bool> done, double seconds)
    {
        using var ps = PowerShell.Create(_runspace);
        ps.AddScript(script);
        var output = new PSDataCollection<PSObject>();
        var async = ps.BeginInvoke<PSObject, PSObject>(null, output);
        IReadOnlyList<PSObject> Snapshot() { lock (output) return output.ToList(); }
        meanwhile();
        TestEnvironment.WaitFor(() => done(Snapshot()), seconds);
        ps.Stop();
        var ended = async.AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(10));
        return (Snapshot(), ended);
    }

    /// <summary>Runs a script piped to Out-Default and returns what the host printed.</summary>
    public string Render(string script)
    {
        _out.GetStringBuilder().Clear();
        using var ps = PowerShell.Create(_runspace);
        ps.AddScript(script).AddCommand("Out-Default");
        ps.Invoke();
        return _out.ToString();
    }

    public string ErrorText => _err.ToString();

    public void Dispose()
    {
        // guests a test started must not outlive it (their cgroups and monitors are host-wide)
        try
        {
            Invoke("Get-VServerGuest | Where-Object State -eq Running | Stop-VServerGuest -Timeout 2");
        }
        catch (Exception)
        {
        }
        _runspace.Dispose();
        foreach (var v in new[] { "VSERVER_CONFIG_ROOT", "VSERVER_VDIR_ROOT", "VSERVER_RUN_ROOT" })
        {
            Environment.SetEnvironmentVariable(v, null);
        }
        Roots.Dispose();
    }
}
