using System.Management.Automation;
using System.Management.Automation.Runspaces;
using VServer.Shell;

// vsh -File script.ps1 [args…] | vsh -Command "…" | vsh (read commands from standard input)
// The repository's output/ folder is put on PSModulePath, so 'Import-Module VServer' loads the build.
var repo = FindRepoRoot(AppContext.BaseDirectory);
if (repo is not null)
{
    var modules = Path.Combine(repo, "output");
    var current = Environment.GetEnvironmentVariable("PSModulePath");
    Environment.SetEnvironmentVariable("PSModulePath", string.IsNullOrEmpty(current) ? modules : modules + Path.PathSeparator + current);
}

var plain = Console.IsOutputRedirected || Environment.GetEnvironmentVariable("NO_COLOR") is not null;
var host = new TextHost(Console.Out, Console.Error, Console.IsInputRedirected ? null : Console.In,
    Console.IsOutputRedirected ? 120 : Math.Max(80, SafeWidth()), plain);
var iss = InitialSessionState.CreateDefault2();
using var runspace = RunspaceFactory.CreateRunspace(host, iss);
runspace.Open();

int Run(Action<PowerShell> build)
{
    using var ps = PowerShell.Create(runspace);
    build(ps);
    ps.Commands.Commands[0].MergeMyResults(PipelineResultTypes.Error, PipelineResultTypes.Output);
    ps.AddCommand("Out-Default");
    Console.CancelKeyPress += (_, e) => { e.Cancel = true; ps.BeginStop(null, null); };
    try
    {
        ps.Invoke();
    }
    catch (RuntimeException e)
    {
        Console.Error.WriteLine(e.ErrorRecord?.ToString() ?? e.Message);
        return host.ExitCode ?? 1;
    }
    return host.ExitCode ?? (ps.HadErrors && ps.Streams.Error.Count > 0 ? 1 : 0);
}

if (args.Length >= 2 && args[0].Equals("-File", StringComparison.OrdinalIgnoreCase))
{
    var file = Path.GetFullPath(args[1]);
    return Run(ps =>
    {
        ps.AddCommand(file);
        foreach (var a in args.Skip(2))
        {
            ps.AddArgument(a);
        }
    });
}
if (args.Length >= 2 && args[0].Equals("-Command", StringComparison.OrdinalIgnoreCase))
{
    return Run(ps => ps.AddScript(string.Join(' ', args.Skip(1))));
}
if (args.Length > 0)
{
    Console.Error.WriteLine("usage: vsh [-File script.ps1 [args...] | -Command <text>]");
    return 2;
}
var rc = 0;
while (true)
{
    if (!Console.IsInputRedirected)
    {
        Console.Write("PS " + Environment.CurrentDirectory + "> ");
    }
    var line = Console.ReadLine();
    if (line is null || line.Trim() == "exit")
    {
        break;
    }
    if (line.Trim().Length > 0)
    {
        rc = Run(ps => ps.AddScript(line));
    }
}
return rc;

static string? FindRepoRoot(string start)
{
    for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
    {
        if (File.Exists(Path.Combine(d.FullName, "VServer.psd1")) && Directory.Exists(Path.Combine(d.FullName, "src")))
        {
            return d.FullName;
        }
    }
    return null;
}

static int SafeWidth()
{
    try { return Console.WindowWidth; } catch (IOException) { return 120; }
}
