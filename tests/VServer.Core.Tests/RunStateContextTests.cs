using System.Text;
using System.Text.Json;
using VServer.Runtime;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// A start's check that its context is free reads every guest's state file: one that names another
/// context is recognized from its bytes, without parsing; anything not plainly written is parsed.
/// </summary>
public sealed class RunStateContextTests
{
    private static byte[] StateBytes(int? context) => RunStateJson.Write(new RunState
    {
        Instance = "i", InitPid = 1, InitStartTicks = 1, StartTime = DateTimeOffset.UnixEpoch, Runtime = "/usr/bin/crun",
        RuntimeRoot = "/run/x", CgroupsPath = "/vserver.x/Context", Context = context, NetworkNamespace = "vs-x-\"Context\":4711",
        Applied = new Dictionary<string, string> { ["Context"] = "4711", ["Memory"] = "1" }, // the live settings it ran with, as strings
    });

    [Fact]
    public void AStateFileAsVServerWritesItSaysWhichContextItNames()
    {
        Assert.True(RunDirectory.NamesContext(StateBytes(4711), 4711));
        Assert.False(RunDirectory.NamesContext(StateBytes(4711), 471));
        Assert.False(RunDirectory.NamesContext(StateBytes(4711), 47110));
        Assert.False(RunDirectory.NamesContext(StateBytes(40001), 4711));
        Assert.False(RunDirectory.NamesContext(StateBytes(null), 4711));
    }

    [Theory]
    [InlineData("{\"Context\": 4711}")] // written by another hand: spaces
    [InlineData("{\"Context\":4711,\"Context\":4712}")] // twice: the parser's rule decides
    [InlineData("{\"InitPid\":4711}")] // no such member
    [InlineData("{\"Context\":4711")] // cut short
    [InlineData("{\"Context\":\"4711\"}")]
    public void AnythingElseIsLeftToTheParser(string json)
    {
        Assert.Null(RunDirectory.NamesContext(Encoding.UTF8.GetBytes(json), 4711));
    }
}
