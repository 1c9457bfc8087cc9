using System.Globalization;
using System.Text;

namespace VServer.Config;

/// <summary>
/// The stable branch's <c>/etc/vservers/NAME.conf</c> (seeds 000, 001, 003), read as data: it is
/// a shell fragment, and it is never run or sourced. Only plain assignments are accepted
/// (<c>NAME=value</c>, <c>NAME="value"</c> — which may span lines — or <c>NAME='value'</c>, with
/// comments); anything else (<c>case</c>, <c>if</c>, <c>$(…)</c>, backquotes, <c>$VAR</c>) refuses
/// the whole file with its line number and text.
/// </summary>
public static class LegacyConfig
{
    /// <summary>The variables util-vserver's stable branch reads, and what VServer makes of each.</summary>
    public static readonly IReadOnlyList<string> Known = new[]
    {
        "S_CONTEXT", "IPROOT", "IPROOTDEV", "IPROOTMASK", "IPROOTBCAST", "ONBOOT", "S_HOSTNAME", "S_DOMAINNAME",
        "S_NICE", "S_FLAGS", "ULIMIT", "S_CAPS", "S_START", "S_STOP",
    };

    private static readonly Dictionary<char, string> UlimitOptions = new()
    {
        ['c'] = "core", ['d'] = "data", ['e'] = "nice", ['f'] = "fsize", ['i'] = "sigpending", ['l'] = "memlock",
        ['m'] = "rss", ['n'] = "nofile", ['q'] = "msgqueue", ['r'] = "rtprio", ['s'] = "stack", ['t'] = "cpu",
        ['u'] = "nproc", ['v'] = "as", ['x'] = "locks",
    };

    /// <summary>The assignments of a file, in order (a later one wins), or LegacyConfigRefused naming the first line that is not one.</summary>
    public static IReadOnlyList<(string Name, string Value, int Line)> Assignments(string text, string file)
    {
        var result = new List<(string, string, int)>();
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        VServerException Refuse(int line, string why) => new("LegacyConfigRefused", ErrorKind.InvalidData,
            $"{file}, line {line}: '{VisibleText.Of(lines[line - 1].Trim())}' {why}; nothing was imported. Only plain assignments (NAME=value) and comments are read: edit the file, or make the guest with New-VServerGuest.", line);
        for (var i = 0; i < lines.Length; i++)
        {
            var lineNo = i + 1;
            var line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }
            var eq = line.IndexOf('=');
            if (eq <= 0 || !IsName(line[..eq]))
            {
                throw Refuse(lineNo, "is not a plain assignment (a shell statement)");
            }
            var name = line[..eq];
            var rest = line[(eq + 1)..];
            var value = new StringBuilder();
            var pos = 0;
            while (pos < rest.Length && !char.IsWhiteSpace(rest[pos]))
            {
                var ch = rest[pos];
                if (ch is '"' or '\'')
                {
                    // a quoted part, which may go on over the next lines
                    pos++;
                    while (true)
                    {
                        var close = rest.IndexOf(ch, pos);
                        var part = close < 0 ? rest[pos..] : rest[pos..close];
                        if (ch == '"' && part.IndexOfAny(new[] { '$', '`', '\\' }) >= 0)
                        {
                            throw Refuse(lineNo, "holds a substitution or escape ($, ` or \\) inside double quotes");
                        }
                        value.Append(part);
                        if (close >= 0)
                        {
                            pos = close + 1;
                            break;
                        }
                        if (++i >= lines.Length)
                        {
                            throw Refuse(lineNo, "opens a quote that is never closed");
                        }
                        value.Append('\n');
                        rest = lines[i];
                        pos = 0;
                    }
                    continue;
                }
                if (ch is '$' or '`' or '\\' or '(' or ')' or ';' or '&' or '|' or '<' or '>' or '{' or '}' or '*' or '?' or '[' or '~')
                {
                    throw Refuse(lineNo, $"holds the shell character '{ch}'");
                }
                value.Append(ch);
                pos++;
            }
            var tail = rest[pos..].Trim();
            if (tail.Length > 0 && !tail.StartsWith('#'))
            {
                throw Refuse(lineNo, "runs a command after the assignment");
            }
            result.Add((name, value.ToString(), lineNo));
        }
        return result;
    }

    private static bool IsName(string s) =>
        s.Length > 0 && (char.IsAsciiLetter(s[0]) || s[0] == '_') && s.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    /// <summary>
    /// A guest configuration from a legacy file (its root stays where the stable branch put it:
    /// the vdir root and the guest's name). Values are checked as New-VServerGuest checks them;
    /// <paramref name="notes"/> gets what is read but has no effect (IPROOTBCAST, unknown variables).
    /// </summary>
    public static GuestConfig Parse(string text, string file, string name, List<string> notes)
    {
        var vars = new Dictionary<string, (string Value, int Line)>(StringComparer.Ordinal);
        foreach (var (n, v, line) in Assignments(text, file))
        {
            vars[n] = (v, line);
        }
        VServerException Bad(string variable, string why) => new("InvalidLegacyConfig", ErrorKind.InvalidData,
            $"{file}, line {vars[variable].Line}: {variable}='{VisibleText.Of(vars[variable].Value)}' {why}; nothing was imported.", variable);
        string? Get(string variable) => vars.TryGetValue(variable, out var v) && v.Value.Trim().Length > 0 ? v.Value.Trim() : null;
        T Checked<T>(string variable, Func<T> parse)
        {
            try
            {
                return parse();
            }
            catch (VServerException e) when (e.ErrorId != "InvalidLegacyConfig")
            {
                throw Bad(variable, "is not valid: " + e.Message);
            }
        }

        var c = new GuestConfig(name);
        var settings = new GuestSettings();
        if (Get("S_CONTEXT") is string ctx)
        {
            settings.Context = int.TryParse(ctx, NumberStyles.None, CultureInfo.InvariantCulture, out var x) ? x : throw Bad("S_CONTEXT", "is not a context number");
        }
        settings.Hostname = Get("S_HOSTNAME");
        settings.Domainname = Get("S_DOMAINNAME");
        if (Get("S_NICE") is string nice)
        {
            settings.Nice = int.TryParse(nice, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) ? n : throw Bad("S_NICE", "is not a number");
        }
        if (Get("S_FLAGS") is string flags)
        {
            settings.Flags = Words(flags);
        }
        if (Get("S_CAPS") is string caps)
        {
            settings.Capabilities = Words(caps);
        }
        if (Get("ONBOOT") is string onboot)
        {
            settings.OnBoot = onboot.ToLowerInvariant() switch
            {
                "yes" or "true" or "1" => true,
                "no" or "false" or "0" => false,
                _ => throw Bad("ONBOOT", "is not yes or no"),
            };
        }
        if (Get("S_START") is string start)
        {
            settings.InitStyle = InitStyle.Sysv;
            settings.StartCommand = start;
        }
        if (Get("S_STOP") is string stop)
        {
            settings.StopCommand = stop;
        }
        if (Get("IPROOT") is string iproot)
        {
            settings.Interfaces = Interfaces(iproot, Get("IPROOTDEV"), Get("IPROOTMASK"), v => Bad("IPROOT", v));
        }
        else if (Get("IPROOTDEV") is not null || Get("IPROOTMASK") is not null)
        {
            notes.Add($"{file}: IPROOTDEV and IPROOTMASK without IPROOT give no address");
        }
        if (Get("IPROOTBCAST") is string bcast)
        {
            notes.Add($"{file}: IPROOTBCAST={bcast} is not kept: the broadcast address follows from the prefix");
        }
        if (Get("ULIMIT") is string ulimit)
        {
            settings.ResourceLimits = Checked("ULIMIT", () => Ulimits(ulimit, v => Bad("ULIMIT", v)));
        }
        foreach (var (n, (_, line)) in vars.Where(v => !Known.Contains(v.Key)).OrderBy(v => v.Value.Line))
        {
            notes.Add($"{file}, line {line}: {n} is not a setting util-vserver's stable branch read for a guest; it is left out");
        }
        // every value checked as a user's would be; the variable named when one is bad
        foreach (var variable in new[] { "S_CONTEXT", "S_HOSTNAME", "S_DOMAINNAME", "S_NICE", "S_FLAGS", "S_CAPS", "S_START", "S_STOP", "ULIMIT" })
        {
            if (!vars.ContainsKey(variable))
            {
                continue;
            }
            var one = new GuestSettings
            {
                Context = variable == "S_CONTEXT" ? settings.Context : null,
                Hostname = variable == "S_HOSTNAME" ? settings.Hostname : null,
                Domainname = variable == "S_DOMAINNAME" ? settings.Domainname : null,
                Nice = variable == "S_NICE" ? settings.Nice : null,
                Flags = variable == "S_FLAGS" ? settings.Flags : null,
                Capabilities = variable == "S_CAPS" ? settings.Capabilities : null,
                StartCommand = variable == "S_START" ? settings.StartCommand : null,
                StopCommand = variable == "S_STOP" ? settings.StopCommand : null,
                ResourceLimits = variable == "ULIMIT" ? settings.ResourceLimits : null,
            };
            Checked(variable, () => { one.ApplyTo(new GuestConfig(name)); return 0; });
        }
        if (vars.ContainsKey("IPROOT"))
        {
            Checked("IPROOT", () => { new GuestSettings { Interfaces = settings.Interfaces }.ApplyTo(new GuestConfig(name)); return 0; });
        }
        settings.ApplyTo(c);
        if (settings.InitStyle is null)
        {
            c.InitStyle = InitStyle.Sysv; // the stable branch ran the distribution's rc scripts
        }
        c.CheckConsistency();
        return c;
    }

    private static string[] Words(string s) => s.Split(new[] { ' ', '\t', '\n', ',' }, StringSplitOptions.RemoveEmptyEntries);

    /// <summary>IPROOT's entries (<c>ip</c>, <c>dev:ip</c>, <c>ip/prefix</c>, <c>ip/mask</c>, seed 001's <c>eth1:192.168.3.1/ 255.255.255.192</c>), with IPROOTDEV and IPROOTMASK as defaults.</summary>
    private static string[] Interfaces(string iproot, string? dev, string? mask, Func<string, VServerException> bad)
    {
        var words = Words(iproot).ToList();
        for (var i = 0; i < words.Count - 1; i++)
        {
            if (words[i].EndsWith('/'))
            {
                words[i] += words[i + 1];
                words.RemoveAt(i + 1);
            }
        }
        var result = new List<string>();
        foreach (var w in words)
        {
            var spec = w;
            if (!spec.Contains('/') && mask is not null)
            {
                spec += "/" + mask;
            }
            if (dev is not null && !HasDevice(spec))
            {
                spec = dev + ":" + spec;
            }
            result.Add(spec);
        }
        return result.ToArray();
    }

    private static bool HasDevice(string spec)
    {
        var addr = spec.Split('/')[0];
        return !System.Net.IPAddress.TryParse(addr, out _) && addr.Contains(':');
    }

    /// <summary>ULIMIT's ulimit options (<c>-H -u 1000</c>, <c>-HS -u 200</c>, several pairs): -H hard, -S soft, both when neither.</summary>
    private static Dictionary<string, string> Ulimits(string text, Func<string, VServerException> bad)
    {
        var result = new Dictionary<string, (string? Soft, string? Hard)>(StringComparer.Ordinal);
        bool hard = false, soft = false;
        var words = Words(text);
        for (var i = 0; i < words.Length; i++)
        {
            var w = words[i];
            if (!w.StartsWith('-') || w.Length < 2)
            {
                throw bad($"has '{w}' where an option was expected (ulimit options such as -H -u 1000)");
            }
            foreach (var ch in w[1..])
            {
                if (ch == 'H')
                {
                    hard = true;
                }
                else if (ch == 'S')
                {
                    soft = true;
                }
                else if (UlimitOptions.TryGetValue(ch, out var resource))
                {
                    if (i + 1 >= words.Length)
                    {
                        throw bad($"gives -{ch} without a value");
                    }
                    var value = words[++i];
                    var (s, h) = result.TryGetValue(resource, out var cur) ? cur : (null, null);
                    var both = !hard && !soft;
                    result[resource] = (soft || both ? value : s, hard || both ? value : h);
                    hard = soft = false;
                    break;
                }
                else
                {
                    throw bad($"has the option -{ch}, which is not a resource limit VServer knows");
                }
            }
        }
        // one side given: the other follows it (a soft limit above the hard one cannot be set)
        return result.ToDictionary(r => r.Key, r =>
        {
            var s = r.Value.Soft ?? r.Value.Hard!;
            var h = r.Value.Hard ?? r.Value.Soft!;
            return s == h ? s : s + ":" + h;
        });
    }
}
