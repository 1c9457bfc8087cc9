using System.Globalization;
using System.Text;

namespace VServer.Build;

/// <summary>One member of a tar archive, as far as checking where it lands needs: its name, its type flag, its link target.</summary>
public readonly record struct TarMember(string Name, char Type, string LinkName)
{
    public bool IsSymlink => Type == '2';
    public bool IsHardLink => Type == '1';
}

/// <summary>
/// Reads the member headers of a tar stream (ustar, GNU long names 'L'/'K', PAX 'x' records for
/// path and linkpath) and skips the data. Lenient where checking does not care: PAX records it
/// does not need (binary xattrs, ACLs, which GNU tar writes and .NET's reader refuses) are skipped.
/// </summary>
public static class TarScanner
{
    private const int Block = 512;

    public static IEnumerable<TarMember> Members(Stream tar)
    {
        var header = new byte[Block];
        string? longName = null, longLink = null, paxPath = null, paxLink = null;
        while (ReadFull(tar, header))
        {
            if (header.All(b => b == 0))
            {
                yield break; // end of archive
            }
            var size = Number(header.AsSpan(124, 12));
            var type = (char)header[156];
            var name = CString(header.AsSpan(0, 100));
            if (Encoding.ASCII.GetString(header, 257, 5) == "ustar" && CString(header.AsSpan(345, 155)) is { Length: > 0 } prefix)
            {
                name = prefix + "/" + name;
            }
            var link = CString(header.AsSpan(157, 100));
            switch (type)
            {
                case 'L':
                    longName = CString(ReadData(tar, size));
                    continue;
                case 'K':
                    longLink = CString(ReadData(tar, size));
                    continue;
                case 'x':
                    foreach (var (key, value) in Pax(ReadData(tar, size)))
                    {
                        if (key == "path") paxPath = value;
                        else if (key == "linkpath") paxLink = value;
                    }
                    continue;
                case 'g':
                    ReadData(tar, size);
                    continue;
            }
            yield return new TarMember(paxPath ?? longName ?? name, type == '\0' ? '0' : type, paxLink ?? longLink ?? link);
            longName = longLink = paxPath = paxLink = null;
            Skip(tar, type is '1' or '2' or '3' or '4' or '5' or '6' ? 0 : size);
        }
        throw new InvalidDataException("the archive ends in the middle of a member");
    }

    private static bool ReadFull(Stream s, byte[] buffer)
    {
        var got = 0;
        while (got < buffer.Length)
        {
            var n = s.Read(buffer, got, buffer.Length - got);
            if (n == 0)
            {
                return got == 0 ? false : throw new InvalidDataException("the archive ends inside a header");
            }
            got += n;
        }
        return true;
    }

    private static byte[] ReadData(Stream s, long size)
    {
        if (size < 0 || size > 1 << 24)
        {
            throw new InvalidDataException($"a metadata member of {size} bytes");
        }
        var data = new byte[size];
        var got = 0;
        while (got < size)
        {
            var n = s.Read(data, got, (int)size - got);
            if (n == 0)
            {
                throw new InvalidDataException("the archive ends inside a member");
            }
            got += n;
        }
        Skip(s, 0, (Block - (int)(size % Block)) % Block);
        return data;
    }

    private static void Skip(Stream s, long size, long padding = -1)
    {
        var total = size + (padding >= 0 ? padding : (Block - size % Block) % Block);
        var buffer = new byte[64 * 1024];
        while (total > 0)
        {
            var n = s.Read(buffer, 0, (int)Math.Min(buffer.Length, total));
            if (n == 0)
            {
                throw new InvalidDataException("the archive ends inside a member's data");
            }
            total -= n;
        }
    }

    /// <summary>A numeric field: octal text, or base-256 when the high bit of the first byte is set.</summary>
    private static long Number(ReadOnlySpan<byte> field)
    {
        if ((field[0] & 0x80) != 0)
        {
            long v = field[0] & 0x7F;
            for (var i = 1; i < field.Length; i++)
            {
                v = (v << 8) | field[i];
            }
            return v;
        }
        var text = Encoding.ASCII.GetString(field).Trim('\0', ' ');
        return text.Length == 0 ? 0 : Convert.ToInt64(text, 8);
    }

    private static string CString(ReadOnlySpan<byte> field)
    {
        var end = field.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? field : field[..end]);
    }

    /// <summary>PAX records: "LENGTH KEY=VALUE\n", LENGTH counting the whole record.</summary>
    private static IEnumerable<(string Key, string Value)> Pax(byte[] data)
    {
        var i = 0;
        while (i < data.Length)
        {
            var space = Array.IndexOf(data, (byte)' ', i);
            if (space < 0 || !int.TryParse(Encoding.ASCII.GetString(data, i, space - i), NumberStyles.None, CultureInfo.InvariantCulture, out var length) ||
                length <= space - i || i + length > data.Length)
            {
                throw new InvalidDataException("a malformed PAX record");
            }
            var record = data.AsSpan(space + 1, i + length - space - 2); // without the newline
            var eq = record.IndexOf((byte)'=');
            if (eq > 0)
            {
                var key = Encoding.UTF8.GetString(record[..eq]);
                if (key is "path" or "linkpath")
                {
                    yield return (key, Encoding.UTF8.GetString(record[(eq + 1)..]));
                }
            }
            i += length;
        }
    }
}
