using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using VServer.Storage;

namespace VServer.Commands;

/// <summary>Tab completion of guest names.</summary>
public sealed class GuestNameCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var word = (wordToComplete ?? "").Trim('\'', '"');
        var pattern = new WildcardPattern(WildcardPattern.Escape(word) + "*", WildcardOptions.IgnoreCase);
        IReadOnlyList<string> names;
        try
        {
            names = new GuestStore(VServerPaths.FromEnvironment()).ListNames();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or VServerException)
        {
            yield break;
        }
        foreach (var n in names.Where(pattern.IsMatch))
        {
            // a name util-vserver allowed may hold spaces, quotes or wildcard characters: it completes quoted, literally
            var text = Config.Validate.IsValidGuestName(n) ? n : "'" + CodeGeneration.EscapeSingleQuotedStringContent(n) + "'";
            yield return new CompletionResult(text, n, CompletionResultType.ParameterValue, n);
        }
    }
}
