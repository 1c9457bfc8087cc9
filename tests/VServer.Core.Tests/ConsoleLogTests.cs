using VServer.Runtime;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>A guest's console log as conmon writes it (k8s-file records), read and followed; every byte the guest's.</summary>
public class ConsoleLogTests
{
    private static RunDirectory Run(TempRoots t, string name = "web1")
    {
        var run = new RunDirectory(t.Paths, name);
        Directory.CreateDirectory(run.Dir);
        return run;
    }

    [Fact]
    public void RecordsBecomeLinesPartialOnesJoinedAndControlCharactersVisible()
    {
        var records = new[]
        {
            "2026-11-30T20:00:00.123456789+00:00 stdout F Starting system log daemon: syslogd.",
            "2026-11-30T20:00:01.000000000+00:00 stdout P half ",
            "2026-11-30T20:00:01.500000000+00:00 stdout F and half\r",
            "2026-11-30T20:00:02.000000000+00:00 stderr F \u001b[2Jcleared? [\u001b[0;32m  OK  \u001b[0m] bell\u0007",
            "not a record at all",
        };
        var lines = ConsoleLog.Parse("web1", records).ToList();
        Assert.Equal(4, lines.Count);
        Assert.Equal("Starting system log daemon: syslogd.", lines[0].Message);
        Assert.Equal(new DateTimeOffset(2026, 11, 30, 20, 0, 0, TimeSpan.Zero).AddTicks(1234568), lines[0].TimeStamp);
        Assert.Equal("half and half", lines[1].Message);
        Assert.Equal("stderr", lines[2].Stream);
        // a terminal's sequences are dropped, any other control character shown, never passed on
        Assert.StartsWith("cleared? [  OK  ] bell", lines[2].Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\u001b', lines[2].Message);
        Assert.DoesNotContain('\u0007', lines[2].Message);
        Assert.Null(lines[3].TimeStamp);
        Assert.Equal("not a record at all", lines[3].Message);
        Assert.All(lines, l => Assert.Equal("web1", l.Name));
    }

    [Fact]
    public void ReadGivesTheLastLinesAndNothingForAGuestWithoutALog()
    {
        using var t = new TempRoots();
        var run = Run(t);
        Assert.Empty(ConsoleLog.Read(run));
        File.WriteAllLines(run.ConsoleLog, Enumerable.Range(1, 50).Select(i => $"2026-11-30T20:00:{i % 60:00}.000000000+00:00 stdout F line {i}"));
        Assert.Equal(50, ConsoleLog.Read(run).Count);
        Assert.Equal(new[] { "line 48", "line 49", "line 50" }, ConsoleLog.Read(run, 3).Select(e => e.Message));
        Assert.Empty(ConsoleLog.Read(run, 0));
    }

    [Fact]
    public void FollowGivesNewLinesAndStartsAgainWhenTheLogIsStartedAfresh()
    {
        using var t = new TempRoots();
        var run = Run(t);
        File.WriteAllText(run.ConsoleLog, "2026-11-30T20:00:00.000000000+00:00 stdout F old\n");
        var got = new List<string>();
        using var cancel = new CancellationTokenSource();
        var follower = new Thread(() => ConsoleLog.Follow(run, e => { lock (got) got.Add(e.Message); }, cancel.Token, TimeSpan.FromMilliseconds(20)));
        follower.Start();
        bool Has(params string[] want) => TestEnvironment.WaitFor(() => { lock (got) return want.All(got.Contains); }, 5);

        Thread.Sleep(100);
        File.AppendAllText(run.ConsoleLog, "2026-11-30T20:00:01.000000000+00:00 stdout F new one\n2026-11-30T20:00:02.000000000+00:00 stdout P a line in ");
        Assert.True(Has("new one"));
        File.AppendAllText(run.ConsoleLog, "\n2026-11-30T20:00:02.000000000+00:00 stdout F two records\n");
        Assert.True(Has("a line in two records"));

        // conmon starts a full log afresh (a new file renamed over it): read from its beginning
        var fresh = run.ConsoleLog + ".tmp";
        File.WriteAllText(fresh, "2026-11-30T20:00:03.000000000+00:00 stdout F after the rotation\n");
        File.Move(fresh, run.ConsoleLog, overwrite: true);
        Assert.True(Has("after the rotation"));
        cancel.Cancel();
        Assert.True(follower.Join(TimeSpan.FromSeconds(5)));
        lock (got)
        {
            Assert.DoesNotContain("old", got); // what was there before the follow began is Read's
            Assert.Equal(got.Count, got.Distinct().Count());
        }
    }
}
