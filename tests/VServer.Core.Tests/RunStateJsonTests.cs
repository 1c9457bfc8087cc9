using System.Text;
using System.Text.Json;
using VServer.Config;
using VServer.Runtime;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// state.json is written and read by hand (RunStateJson), in System.Text.Json's serializer's form:
/// a state written by an earlier VServer (the serializer's) is read as the serializer read it, and what
/// is written now is what the serializer wrote, byte for byte. The serializer, by reflection, is the reference here.
/// </summary>
public sealed class RunStateJsonTests
{
    private static readonly JsonSerializerOptions Reference = new();

    public static IEnumerable<object[]> States()
    {
        yield return new object[] { new RunState
        {
            Instance = "0123456789abcdef0123456789abcdef", InitPid = 4242, InitStartTicks = 123456789, StartTime = new DateTimeOffset(2026, 12, 2, 16, 22, 53, TimeSpan.Zero).AddTicks(2609837),
            Runtime = "/usr/bin/crun", RuntimeRoot = "/run/vservers/.runtime", CgroupsPath = "/vserver/web1",
        } };
        yield return new object[] { new RunState
        {
            Instance = "i", InitPid = int.MaxValue, InitStartTicks = ulong.MaxValue, ConmonPid = 17, StartTime = new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(-5)),
            Runtime = "/usr/sbin/runc", RuntimeRoot = "/r", CgroupsPath = "/vserver.1234abcd/+ftp_server.ab12", Context = 40000, RootMount = "/vservers/t <&> 'é'",
            Users = new IdRange(1_000_000_000, IdRange.Size), NetworkNamespace = "vs-web1", InitStyle = InitStyle.Sysv, InitKind = InitKind.Systemd, StopSignal = 37,
            Applied = new Dictionary<string, string> { ["Context"] = "40000", ["Interface"] = "eth0\n\"quoted\"\tand \\ back", ["Hostname"] = "" },
            Recovered = true,
        } };
    }

    [Theory]
    [MemberData(nameof(States))]
    public void WhatIsWrittenIsTheSerializersFormByteForByte(RunState state)
    {
        Assert.Equal(Encoding.UTF8.GetString(JsonSerializer.SerializeToUtf8Bytes(state, Reference)), Encoding.UTF8.GetString(RunStateJson.Write(state)));
    }

    [Theory]
    [MemberData(nameof(States))]
    public void WhatIsReadIsWhatWasWritten(RunState state)
    {
        var read = RunStateJson.Read(JsonSerializer.SerializeToUtf8Bytes(state, Reference));
        Assert.NotNull(read);
        Assert.Equal(RunStateJson.Write(state), RunStateJson.Write(read!));
        Assert.Equal(state.Applied, read!.Applied);
        Assert.Equal(state.Users, read.Users);
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("null")]
    [InlineData("{}")] // the required members missing
    [InlineData("{\"InitPid\":1,\"InitStartTicks\":2,\"StartTime\":\"2026-01-01T00:00:00+00:00\",\"Runtime\":\"r\",\"RuntimeRoot\":\"rr\",\"CgroupsPath\":\"c\"}")] // no Instance
    [InlineData("{\"Instance\":\"i\",\"InitPid\":null,\"InitStartTicks\":2,\"StartTime\":\"2026-01-01T00:00:00+00:00\",\"Runtime\":\"r\",\"RuntimeRoot\":\"rr\",\"CgroupsPath\":\"c\"}")]
    [InlineData("{\"Instance\":\"i\",\"InitPid\":\"1\",\"InitStartTicks\":2,\"StartTime\":\"2026-01-01T00:00:00+00:00\",\"Runtime\":\"r\",\"RuntimeRoot\":\"rr\",\"CgroupsPath\":\"c\"}")]
    [InlineData("{\"Instance\":\"i\",\"InitPid\":1,\"InitStartTicks\":-2,\"StartTime\":\"2026-01-01T00:00:00+00:00\",\"Runtime\":\"r\",\"RuntimeRoot\":\"rr\",\"CgroupsPath\":\"c\"}")]
    [InlineData("{\"Instance\":\"i\",\"InitPid\":1,\"InitStartTicks\":2,\"StartTime\":\"yesterday\",\"Runtime\":\"r\",\"RuntimeRoot\":\"rr\",\"CgroupsPath\":\"c\"}")]
    [InlineData("{\"Instance\":\"i\",\"InitPid\":1,\"InitStartTicks\":2,\"StartTime\":\"2026-01-01T00:00:00+00:00\",\"Runtime\":\"r\",\"RuntimeRoot\":\"rr\",\"CgroupsPath\":\"c\",\"Users\":5}")]
    [InlineData("{\"Instance\":\"i\",\"InitPid\":1,\"InitStartTicks\":2,\"StartTime\":\"2026-01-01T00:00:00+00:00\",\"Runtime\":\"r\",\"RuntimeRoot\":\"rr\",\"CgroupsPath\":\"c\",\"Applied\":[]}")]
    [InlineData("{\"Instance\":\"i\",\"InitPid\":1,\"InitStartTicks\":2,\"StartTime\":\"2026-01-01T00:00:00+00:00\",\"Runtime\":\"r\",\"RuntimeRoot\":\"rr\",\"CgroupsPath\":\"c\",\"InitStyle\":\"Plain\"}")]
    [InlineData("{\"Instance\":\"i\",\"InitPid\":1,\"InitStartTicks\":2,\"StartTime\":\"2026-01-01T00:00:00+00:00\",\"Runtime\":\"r\",\"RuntimeRoot\":\"rr\",\"CgroupsPath\":\"c\",\"Recovered\":null}")]
    [InlineData("{\"Instance\":\"i\",\"InitPid\":1,\"InitStartTicks\":2,\"StartTime\":\"2026-01-01T00:00:00+00:00\",\"Runtime\":\"r\",\"RuntimeRoot\":\"rr\",\"CgroupsPath\":\"c\"} x")] // trailing bytes
    [InlineData("{\"Instance\":\"i\",\"InitPid\":1,\"InitStartTicks\":2,\"StartTime\":\"2026-01-01T00:00:00+00:00\",\"Runtime\":\"r\",\"RuntimeRoot\":\"rr\",\"CgroupsPath\":\"c\"")] // cut short
    [InlineData("{/*c*/\"Instance\":\"i\",\"InitPid\":1,\"InitStartTicks\":2,\"StartTime\":\"2026-01-01T00:00:00+00:00\",\"Runtime\":\"r\",\"RuntimeRoot\":\"rr\",\"CgroupsPath\":\"c\"}")]
    [InlineData("{\"Instance\":\"i\",\"InitPid\":1,\"InitStartTicks\":2,\"StartTime\":\"2026-01-01T00:00:00+00:00\",\"Runtime\":\"r\",\"RuntimeRoot\":\"rr\",\"CgroupsPath\":\"c\",\"Extra\":{\"a\":[1,2]},\"instance\":5}")] // unknown members: passed over
    [InlineData("{\"Instance\":\"one\",\"InitPid\":1,\"InitPid\":7,\"InitStartTicks\":2,\"StartTime\":\"2026-01-01T00:00:00+00:00\",\"Runtime\":\"r\",\"RuntimeRoot\":\"rr\",\"CgroupsPath\":\"c\",\"Users\":{\"Count\":65536,\"First\":1000000000,\"Last\":3},\"Applied\":{\"a\":\"1\",\"a\":\"2\",\"b\":null}}")]
    public void AFileIsReadAsTheSerializerReadsIt(string json)
    {
        RunState? expected;
        try
        {
            expected = JsonSerializer.Deserialize<RunState>(json, Reference);
        }
        catch (JsonException)
        {
            expected = null;
        }
        var read = RunStateJson.Read(Encoding.UTF8.GetBytes(json));
        Assert.Equal(expected is null, read is null);
        if (expected is not null)
        {
            Assert.Equal(RunStateJson.Write(expected), RunStateJson.Write(read!));
        }
    }
}
