using System.Collections;
using System.Diagnostics;
using System.Management.Automation;
using VServer.Runtime;

namespace VServer.Commands;

/// <summary>
/// Invoke-VServerCommand: runs a command inside running guests (the runtime's exec: the guest's
/// namespaces, cgroup and capabilities), as PowerShell 7 runs a native command: output lines
/// stream as strings with a GuestName note property; standard error goes to the host through the
/// information stream (tagged "stderr"; redirect with 6> or capture with -InformationVariable), so
/// it never turns success into failure; the exit code decides: non-zero is an error record
/// (NonZeroExitCode), and $LASTEXITCODE is set as after a native command.
/// </summary>
[Cmdlet(VerbsLifecycle.Invoke, "VServerCommand")]
[OutputType(typeof(string), typeof(CommandResult))]
public sealed class InvokeVServerCommandCommand : VServerCmdlet
{
    private readonly List<string> _names = new();

    [Parameter(Position = 0)]
    [SupportsWildcards]
    [ArgumentCompleter(typeof(GuestNameCompleter))]
    public string[] Name { get; set; } = Array.Empty<string>();

    /// <summary>
    /// The command and its arguments. When guests come from the pipeline, every positional word is
    /// part of the command: <c>Get-VServerGuest | Invoke-VServerCommand apt-get update</c>.
    /// </summary>
    [Parameter(Position = 1, ValueFromRemainingArguments = true)]
    public object[] Command { get; set; } = Array.Empty<object>();

    /// <summary>
    /// The command's words as a native command gets them: PowerShell parses <c>ps -o pid,comm</c> into
    /// an array for <c>pid,comm</c>, which a native command receives joined with commas.
    /// </summary>
    internal static string[] Words(IEnumerable<object> command) => command.Select(Word).ToArray();

    private static string Word(object o)
    {
        var value = o is PSObject ps ? ps.BaseObject : o;
        if (value is not string && value is IEnumerable items)
        {
            return string.Join(",", items.Cast<object>().Select(Word));
        }
        return LanguagePrimitives.ConvertTo<string>(value) ?? "";
    }

    /// <summary>Guests (or anything with a Name property, or names) from the pipeline.</summary>
    [Parameter(ValueFromPipeline = true)]
    public PSObject? InputObject { get; set; }

    /// <summary>A user name from the guest's /etc/passwd, or uid[:gid].</summary>
    [Parameter]
    public string? User { get; set; }

    [Parameter]
    public string? WorkingDirectory { get; set; }

    [Parameter]
    public Hashtable? Environment { get; set; }

    /// <summary>
    /// Lines the command reads on its standard input (each ends with a newline), which is then
    /// closed; every guest gets the same. Without it the input is empty.
    /// </summary>
    [Parameter]
    [Alias("Stdin")]
    [AllowEmptyString]
    public string[]? StandardInput { get; set; }

    [Parameter]
    [ValidateRange(1, 256)]
    public int ThrottleLimit { get; set; } = 4;

    [Parameter]
    public SwitchParameter AsResult { get; set; }

    protected override void BeginProcessing()
    {
        if (MyInvocation.ExpectingInput && Name.Length > 0)
        {
            Command = Name.Cast<object>().Concat(Command).ToArray();
            Name = Array.Empty<string>();
        }
        if (Command.Length == 0)
        {
            ThrowTerminatingError(new ErrorRecord(new ArgumentException("Give the command to run in the guest, e.g. Invoke-VServerCommand web1 uptime."),
                "MissingCommand", ErrorCategory.InvalidArgument, null));
        }
    }

    protected override void ProcessRecord()
    {
        IEnumerable<string> patterns = Name;
        if (InputObject is not null)
        {
            var name = InputObject.BaseObject is string s ? s : InputObject.Properties["Name"]?.Value?.ToString();
            if (name is null)
            {
                WriteError(new ErrorRecord(new ArgumentException($"The input object '{InputObject}' has no Name."), "InputHasNoName", ErrorCategory.InvalidArgument, InputObject));
                return;
            }
            patterns = new[] { name };
        }
        foreach (var n in ResolveNames(patterns))
        {
            if (!_names.Contains(n))
            {
                _names.Add(n);
            }
        }
    }

    protected override void EndProcessing()
    {
        var env = Environment?.Cast<DictionaryEntry>().ToDictionary(e => e.Key.ToString() ?? "", e => e.Value?.ToString() ?? "");
        var words = Words(Command);
        var input = StandardInput is null ? null : string.Concat(StandardInput.Select(l => l + "\n"));
        var request = new ExecRequest(words) { User = User, WorkingDirectory = WorkingDirectory, Environment = env, Input = input };
        var several = _names.Count > 1;
        var exitCodes = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        ForEachGuest(_names, ThrottleLimit, (name, sink) =>
        {
            var output = new List<string>();
            var error = new List<string>();
            var sw = Stopwatch.StartNew();
            var code = Runtime.Exec(name, request,
                line =>
                {
                    if (AsResult) { lock (output) { output.Add(line); } }
                    else
                    {
                        var o = new PSObject(line);
                        o.Properties.Add(new PSNoteProperty("GuestName", name));
                        sink.Object(o);
                    }
                },
                line =>
                {
                    if (AsResult) { lock (error) { error.Add(line); } }
                    else { sink.Host(several ? $"{name}: {line}" : line, "stderr", name); }
                },
                sink.Cancel);
            exitCodes[name] = code;
            if (AsResult)
            {
                lock (output) lock (error)
                {
                    sink.Object(new CommandResult(name, code, output.ToArray(), error.ToArray(), sw.Elapsed));
                }
            }
            else if (code != 0)
            {
                sink.Error(new ErrorRecord(new GuestCommandException($"{name}: '{Config.CommandLine.Join(words)}' exited with {code}.") { ExitCode = code },
                    "NonZeroExitCode", ErrorCategory.InvalidResult, name));
            }
        });
        // as after a native command: the exit code (the first non-zero one when several guests ran it)
        if (!exitCodes.IsEmpty)
        {
            var last = _names.Where(exitCodes.ContainsKey).Select(n => exitCodes[n]).FirstOrDefault(c => c != 0);
            SessionState.PSVariable.Set("global:LASTEXITCODE", last);
        }
    }
}

/// <summary>An error line or a failed command inside a guest.</summary>
public sealed class GuestCommandException : Exception
{
    public GuestCommandException(string message) : base(message) { }

    public int? ExitCode { get; init; }
}
