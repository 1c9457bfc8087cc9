using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using VServer.Config;
using VServer.Processes;
using VServer.Runtime;

namespace VServer;

/// <summary>Tab completion from a fixed list of words; a word with a space is offered quoted.</summary>
public abstract class ListCompleter : IArgumentCompleter
{
    protected abstract IEnumerable<string> Words { get; }

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var word = (wordToComplete ?? "").Trim('\'', '"');
        var pattern = new WildcardPattern(WildcardPattern.Escape(word) + "*", WildcardOptions.IgnoreCase);
        foreach (var w in Words.Where(pattern.IsMatch))
        {
            var text = w.Contains(' ') ? "'" + w + "'" : w;
            yield return new CompletionResult(text, w, CompletionResultType.ParameterValue, w);
        }
    }
}

/// <summary>-Capability: every capability, as an addition or (with '!') a removal.</summary>
public sealed class CapabilityCompleter : ListCompleter
{
    protected override IEnumerable<string> Words =>
        Capabilities.All.Select(c => c["CAP_".Length..]).Concat(Capabilities.SecureDefault.Select(c => "!" + c["CAP_".Length..]));
}

/// <summary>-Flag: the context flags VServer honours.</summary>
public sealed class FlagCompleter : ListCompleter
{
    protected override IEnumerable<string> Words => GuestFlags.Known.Keys;
}

/// <summary>-Signal: signal names as kill(1) spells them.</summary>
public sealed class SignalCompleter : ListCompleter
{
    protected override IEnumerable<string> Words => Signals.Known;
}

/// <summary>-Check: Test-VServerHost's checks.</summary>
public sealed class HostCheckCompleter : ListCompleter
{
    protected override IEnumerable<string> Words => HostChecks.Names;
}
