using System.Text;

namespace VServer.Config;

/// <summary>
/// Splits a command given as one string into arguments (whitespace separated; single quotes are
/// literal, double quotes allow backslash escapes) and joins arguments back. Nothing is expanded:
/// util-vserver's <c>cmd.start</c> holds one argument per line, never a shell string.
/// </summary>
public static class CommandLine
{
    public static IReadOnlyList<string> Split(string command)
    {
        var args = new List<string>();
        var cur = new StringBuilder();
        var inArg = false;
        for (var i = 0; i < command.Length; i++)
        {
            var c = command[i];
            if (char.IsWhiteSpace(c))
            {
                if (inArg)
                {
                    args.Add(cur.ToString());
                    cur.Clear();
                    inArg = false;
                }
                continue;
            }
            inArg = true;
            if (c == '\'')
            {
                var end = command.IndexOf('\'', i + 1);
                if (end < 0)
                {
                    throw Unbalanced(command);
                }
                cur.Append(command, i + 1, end - i - 1);
                i = end;
            }
            else if (c == '"')
            {
                i++;
                for (; i < command.Length && command[i] != '"'; i++)
                {
                    if (command[i] == '\\' && i + 1 < command.Length)
                    {
                        i++;
                    }
                    cur.Append(command[i]);
                }
                if (i >= command.Length)
                {
                    throw Unbalanced(command);
                }
            }
            else if (c == '\\' && i + 1 < command.Length)
            {
                cur.Append(command[++i]);
            }
            else
            {
                cur.Append(c);
            }
        }
        if (inArg)
        {
            args.Add(cur.ToString());
        }
        if (args.Count == 0)
        {
            throw new VServerException("InvalidCommand", ErrorKind.InvalidArgument, "The command is empty.", command);
        }
        if (args.Any(a => a.Contains('\n') || a.Contains('\0')))
        {
            throw new VServerException("InvalidCommand", ErrorKind.InvalidArgument, $"The command '{command}' contains a newline or NUL byte.", command);
        }
        return args;
    }

    private static VServerException Unbalanced(string command) =>
        new("InvalidCommand", ErrorKind.InvalidArgument, $"The command '{command}' has an unbalanced quote.", command);

    public static string Join(IEnumerable<string> args) => string.Join(' ', args.Select(Quote));

    private static string Quote(string a) =>
        a.Length > 0 && a.All(c => char.IsAsciiLetterOrDigit(c) || "/._-=:,+@%".Contains(c))
            ? a
            : "'" + a.Replace("'", "'\\''") + "'";
}
