using VServer.Runtime;
using Xunit;

namespace VServer.Tests;

/// <summary>The order of a marked start: dependencies first, in levels; cycles and missing guests named.</summary>
public class BootOrderTests
{
    private static BootOrder Plan(string[] marked, params (string Guest, string[] Depends)[] guests)
    {
        var map = guests.ToDictionary(g => g.Guest, g => (IReadOnlyList<string>)g.Depends);
        return BootOrder.Plan(marked, n => map.TryGetValue(n, out var d) ? d : null);
    }

    [Fact]
    public void DependenciesComeFirstAndOneLevelStartsTogether()
    {
        var p = Plan(new[] { "web", "mail", "app" },
            ("web", new[] { "app" }), ("app", new[] { "db", "cache" }), ("db", Array.Empty<string>()),
            ("cache", Array.Empty<string>()), ("mail", Array.Empty<string>()));
        // db and cache are not marked: they start because app needs them
        Assert.Equal(new[] { new[] { "cache", "db", "mail" }, new[] { "app" }, new[] { "web" } }, p.Levels.Select(l => l.ToArray()));
        Assert.Empty(p.Refused);
    }

    [Fact]
    public void ACycleIsRefusedByNameAndTheRestStillStarts()
    {
        var p = Plan(new[] { "a", "b", "x", "solo" },
            ("a", new[] { "b" }), ("b", new[] { "c" }), ("c", new[] { "b" }), ("x", new[] { "x" }), ("solo", Array.Empty<string>()));
        Assert.Equal(new[] { new[] { "solo" } }, p.Levels.Select(l => l.ToArray()));
        Assert.Contains("b -> c -> b", p.Refused["b"]);
        Assert.Contains("b -> c -> b", p.Refused["c"]);
        Assert.Contains("depends on 'b'", p.Refused["a"]);
        Assert.Contains("x -> x", p.Refused["x"]);
    }

    [Fact]
    public void AMissingDependencyLeavesOutOnlyItsDependents()
    {
        var p = Plan(new[] { "web", "db" }, ("web", new[] { "gone" }), ("db", Array.Empty<string>()));
        Assert.Equal(new[] { new[] { "db" } }, p.Levels.Select(l => l.ToArray()));
        Assert.Equal("it depends on 'gone', which is not started (no such guest)", p.Refused["web"]);
    }
}
