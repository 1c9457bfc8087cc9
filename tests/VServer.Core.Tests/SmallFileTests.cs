using System.Text;
using VServer.Storage;
using Xunit;

namespace VServer.Tests;

/// <summary>SmallFile reads a configuration file exactly as File.ReadAllText does, which it replaces on a start's path.</summary>
public class SmallFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("vs-smallfile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Put(string name, byte[] content)
    {
        var p = Path.Combine(_dir, name);
        File.WriteAllBytes(p, content);
        return p;
    }

    public static TheoryData<string, byte[]> Contents => new()
    {
        { "empty", [] },
        { "number", "42\n"u8.ToArray() },
        { "utf8", "nodename ščř 名前\n"u8.ToArray() },
        { "utf8 with BOM", [0xEF, 0xBB, 0xBF, .. "0 1000000 65536\n"u8] },
        { "utf16le with BOM", [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes("40001\n")] },
        { "utf16be with BOM", [.. Encoding.BigEndianUnicode.GetPreamble(), .. Encoding.BigEndianUnicode.GetBytes("40001\n")] },
        { "invalid utf8", [0x34, 0xC3, 0x28, 0xFF, 0x0A] },
        { "NUL bytes first", [0, 0, 0x41, 0x0A] },
        { "exactly the buffer", Enumerable.Repeat((byte)'x', SmallFile.Limit).ToArray() },
        { "larger than the buffer", Enumerable.Repeat((byte)'y', SmallFile.Limit * 3 + 7).ToArray() },
    };

    [Theory]
    [MemberData(nameof(Contents))]
    public void GivesWhatReadAllTextGives(string name, byte[] content)
    {
        var p = Put(name.Replace(' ', '-'), content);
        Assert.Equal(File.ReadAllText(p), SmallFile.ReadText(p));
        Assert.Equal(File.ReadAllText(p), SmallFile.ReadTextIfExists(p));
    }

    [Fact]
    public void AShortFileAfterALongOneIsNotMixedWithIt()
    {
        var longer = Put("long", Encoding.UTF8.GetBytes(new string('a', 5000)));
        var shorter = Put("short", "7\n"u8.ToArray());
        Assert.Equal(5000, SmallFile.ReadText(longer).Length);
        Assert.Equal("7\n", SmallFile.ReadText(shorter));
    }

    [Fact]
    public void AMissingFileIsNullAndADirectoryThrowsAsReadAllTextDoes()
    {
        Assert.Null(SmallFile.ReadTextIfExists(Path.Combine(_dir, "absent")));
        Assert.Null(SmallFile.ReadTextIfExists(Path.Combine(_dir, "absent", "below")));
        Assert.Throws<FileNotFoundException>(() => SmallFile.ReadText(Path.Combine(_dir, "absent")));
        var sub = Directory.CreateDirectory(Path.Combine(_dir, "sub")).FullName;
        Assert.Null(SmallFile.ReadTextIfExists(sub)); // File.Exists is false for a directory
        var expected = Assert.ThrowsAny<Exception>(() => File.ReadAllText(sub)).GetType();
        Assert.Equal(expected, Assert.ThrowsAny<Exception>(() => SmallFile.ReadText(sub)).GetType());
    }

    [Fact]
    public void FollowsASymlinkAsReadAllTextDoes()
    {
        // configuration directories are the administrator's: util-vserver's own are full of links
        var target = Put("target", "1234\n"u8.ToArray());
        var link = Path.Combine(_dir, "link");
        File.CreateSymbolicLink(link, target);
        Assert.Equal("1234\n", SmallFile.ReadTextIfExists(link));
    }
}
