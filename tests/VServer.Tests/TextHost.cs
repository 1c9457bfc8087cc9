using System.Globalization;
using System.Management.Automation;
using System.Management.Automation.Host;
using System.Security;

namespace VServer.Tests;

/// <summary>A PowerShell host that writes everything as text to two writers (stdout, stderr).</summary>
public sealed class TextHost : PSHost
{
    private readonly Guid _id = Guid.NewGuid();
    private readonly TextHostUI _ui;

    /// <param name="plainText">Strip ANSI escape sequences (the formatter adds them; a file or pipe does not want them).</param>
    public TextHost(TextWriter output, TextWriter error, TextReader? input = null, int width = 120, bool plainText = true)
    {
        _ui = new TextHostUI(plainText ? new PlainWriter(output) : output, plainText ? new PlainWriter(error) : error, input, width);
    }

    public int? ExitCode { get; private set; }
    public override CultureInfo CurrentCulture => CultureInfo.InvariantCulture;
    public override CultureInfo CurrentUICulture => CultureInfo.InvariantCulture;
    public override Guid InstanceId => _id;
    public override string Name => "VServer.Tests";
    public override PSHostUserInterface UI => _ui;
    public override Version Version => typeof(TextHost).Assembly.GetName().Version ?? new Version(0, 1);
    public override void EnterNestedPrompt() => throw new NotSupportedException("Nested prompts are not supported by this host.");
    public override void ExitNestedPrompt() => throw new NotSupportedException("Nested prompts are not supported by this host.");
    public override void NotifyBeginApplication() { }
    public override void NotifyEndApplication() { }
    public override void SetShouldExit(int exitCode) => ExitCode = exitCode;
}

/// <summary>Removes ANSI escape sequences (CSI … letter) from what passes through.</summary>
internal sealed partial class PlainWriter : TextWriter
{
    private readonly TextWriter _inner;

    public PlainWriter(TextWriter inner) => _inner = inner;

    public override System.Text.Encoding Encoding => _inner.Encoding;

    [System.Text.RegularExpressions.GeneratedRegex("\u001b\\[[0-9;?]*[A-Za-z]")]
    private static partial System.Text.RegularExpressions.Regex Ansi();

    public override void Write(char value) => _inner.Write(value);
    public override void Write(string? value) => _inner.Write(value is null ? null : Ansi().Replace(value, ""));
    public override void WriteLine(string? value) => _inner.WriteLine(value is null ? null : Ansi().Replace(value, ""));
    public override void Flush() => _inner.Flush();
}

internal sealed class TextHostUI : PSHostUserInterface
{
    private readonly TextWriter _out;
    private readonly TextWriter _err;
    private readonly TextReader? _in;
    private readonly TextRawUI _raw;

    public TextHostUI(TextWriter output, TextWriter error, TextReader? input, int width)
    {
        _out = output;
        _err = error;
        _in = input;
        _raw = new TextRawUI(width);
    }

    public override PSHostRawUserInterface RawUI => _raw;
    public override void Write(string value) => _out.Write(value);
    public override void Write(ConsoleColor foregroundColor, ConsoleColor backgroundColor, string value) => _out.Write(value);
    public override void WriteLine(string value) => _out.WriteLine(value);
    public override void WriteErrorLine(string value) => _err.WriteLine(value);
    public override void WriteWarningLine(string message) => _err.WriteLine("WARNING: " + message);
    public override void WriteVerboseLine(string message) => _err.WriteLine("VERBOSE: " + message);
    public override void WriteDebugLine(string message) => _err.WriteLine("DEBUG: " + message);
    public override void WriteProgress(long sourceId, ProgressRecord record) { }
    public override string ReadLine() => _in?.ReadLine() ?? throw new PSInvalidOperationException("This host has no input to read from.");
    public override SecureString ReadLineAsSecureString() => throw new PSNotSupportedException("Reading secure strings is not supported by this host.");

    public override Dictionary<string, PSObject> Prompt(string caption, string message, System.Collections.ObjectModel.Collection<FieldDescription> descriptions)
    {
        var result = new Dictionary<string, PSObject>();
        foreach (var d in descriptions)
        {
            _out.Write($"{d.Name}: ");
            result[d.Name] = PSObject.AsPSObject(ReadLine());
        }
        return result;
    }

    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName) =>
        throw new PSNotSupportedException("Credential prompts are not supported by this host.");

    public override PSCredential PromptForCredential(string caption, string message, string userName, string targetName,
        PSCredentialTypes allowedCredentialTypes, PSCredentialUIOptions options) =>
        throw new PSNotSupportedException("Credential prompts are not supported by this host.");

    public override int PromptForChoice(string caption, string message, System.Collections.ObjectModel.Collection<ChoiceDescription> choices, int defaultChoice)
    {
        if (_in is null)
        {
            throw new PSInvalidOperationException($"{caption}: {message} — this host cannot ask for confirmation; pass -Confirm:$false.");
        }
        _out.WriteLine(caption);
        _out.WriteLine(message);
        var labels = choices.Select(c => c.Label.Replace("&", "")).ToArray();
        _out.Write(string.Join("  ", labels.Select((l, i) => $"[{l[0]}] {l}")) + $" (default {labels[defaultChoice][0]}): ");
        var answer = (ReadLine() ?? "").Trim();
        if (answer.Length == 0)
        {
            return defaultChoice;
        }
        var idx = Array.FindIndex(labels, l => l.StartsWith(answer, StringComparison.OrdinalIgnoreCase));
        return idx >= 0 ? idx : defaultChoice;
    }
}

internal sealed class TextRawUI : PSHostRawUserInterface
{
    private readonly int _width;

    public TextRawUI(int width) => _width = width;

    public override ConsoleColor BackgroundColor { get; set; } = ConsoleColor.Black;
    public override ConsoleColor ForegroundColor { get; set; } = ConsoleColor.Gray;
    public override Size BufferSize { get => new(_width, 9999); set { } }
    public override Coordinates CursorPosition { get; set; }
    public override int CursorSize { get; set; } = 1;
    public override bool KeyAvailable => false;
    public override Size MaxPhysicalWindowSize => new(_width, 100);
    public override Size MaxWindowSize => new(_width, 100);
    public override Coordinates WindowPosition { get; set; }
    public override Size WindowSize { get => new(_width, 100); set { } }
    public override string WindowTitle { get; set; } = "VServer";
    public override void FlushInputBuffer() { }
    public override BufferCell[,] GetBufferContents(Rectangle rectangle) => throw new NotSupportedException();
    public override KeyInfo ReadKey(ReadKeyOptions options) => throw new NotSupportedException("This host cannot read keys.");
    public override void ScrollBufferContents(Rectangle source, Coordinates destination, Rectangle clip, BufferCell fill) { }
    public override void SetBufferContents(Coordinates origin, BufferCell[,] contents) { }
    public override void SetBufferContents(Rectangle rectangle, BufferCell fill) { }
}
