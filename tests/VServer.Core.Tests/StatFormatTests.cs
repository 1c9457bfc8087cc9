using System.Text;
using System.Text.Json;
using VServer.Processes;
using VServer.Runtime;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>The vserver-stat and vps layouts, the /proc parsers and signal names (no root needed).</summary>
public class StatFormatTests
{
    private const long K = 1024, M = K * K, G = M * K;

    [Theory]
    [InlineData(0, "0")]
    [InlineData(999, "999")]
    [InlineData(59 * K + K / 2, "59.5K")]
    [InlineData(151 * M, "151M")]           // seed 002: no ".0"
    [InlineData(392 * M + 95 * M / 100, "392.9M")] // 392.95M: the tenth is cut, not rounded
    [InlineData(3 * G + 35 * G / 100, "3.3G")]
    [InlineData(999 * M, "999M")]
    [InlineData(1000 * M, "0.9G")]          // never four digits before the point
    public void SizesUseVserverStatUnits(long bytes, string expected) => Assert.Equal(expected, StatFormat.Size(bytes));

    [Theory]
    [InlineData(5000, "1h23m20")]
    [InlineData(1234, "20m34s00")]
    [InlineData(8 * 86400 + 3 * 3600 + 7 * 60 + 59, "8d03h07")]
    [InlineData(1.63, "0m01s63")]
    [InlineData(4 * 3600 + 48 * 60 + 24.9, "4h48m24")]
    [InlineData(3599.99, "59m59s99")]
    [InlineData(0, "0m00s00")]
    public void TimesUseVserverStatFormats(double seconds, string expected) =>
        Assert.Equal(expected, StatFormat.Time(TimeSpan.FromTicks((long)Math.Round(seconds * TimeSpan.TicksPerSecond))));

    [Fact]
    public void ContextLinesMatchTheSeedsLayout()
    {
        // seed 002, Listing 6
        Assert.Equal("CTX   PROC    VSZ    RSS  userTIME   sysTIME    UPTIME NAME", StatFormat.ContextHeader);
        var root = new ContextInfo(0, ContextInfo.RootServerName, null)
        {
            ProcessCount = 51,
            VirtualMemory = (long)(271.85 * M),
            ResidentMemory = (long)(33.25 * M),
            UserTime = TimeSpan.FromSeconds(29 * 60 + 44.27),
            SystemTime = TimeSpan.FromSeconds(18 * 60 + 25.995),
            Uptime = TimeSpan.FromMinutes(3 * 1440 + 14 * 60 + 53.5),
        };
        Assert.Equal("0       51 271.8M  33.2M  29m44s27  18m25s99   3d14h53 root server", StatFormat.ContextLine(root));
        var guest = new ContextInfo(127, "vubuntu", "vubuntu")
        {
            ProcessCount = 32,
            VirtualMemory = (long)(380.15 * M),
            ResidentMemory = 151 * M,
            UserTime = TimeSpan.FromSeconds(4 * 3600 + 48 * 60 + 24.5),
            SystemTime = TimeSpan.FromSeconds(9 * 60 + 6.775),
            Uptime = TimeSpan.FromMinutes(3 * 1440 + 14 * 60 + 52),
        };
        Assert.Equal("127     32 380.1M   151M   4h48m24   9m06s77   3d14h52 vubuntu", StatFormat.ContextLine(guest));
        var wide = new ContextInfo(40000, "web1", "web1") { ProcessCount = 3 };
        Assert.StartsWith("40000    3 ", StatFormat.ContextLine(wide));
    }

    [Fact]
    public void ProcessLinesPutTheContextAfterThePid()
    {
        // seed 000: "  PID CONTEXT             TTY" … "    1     0 MAIN          ?"
        Assert.StartsWith("  PID CONTEXT" + new string(' ', 15) + "GPID ", StatFormat.ProcessHeader);
        var host = new ProcessInfo { Id = 1, Context = 0, User = "root", State = "S", CommandLine = "init", UserTime = TimeSpan.FromSeconds(7), VirtualMemory = 2048 * K, ResidentMemory = 100 * K };
        Assert.Equal("    1     0 MAIN               - root     S      2048     100 00:00:07 init", StatFormat.ProcessLine(host));
        var guest = new ProcessInfo { Id = 8214, GuestId = 12, Context = 40000, GuestName = "a-very-long-guest-name", User = "www-data-user", State = "R", CommandLine = "httpd -f", SystemTime = TimeSpan.FromDays(2) };
        var line = StatFormat.ProcessLine(guest);
        Assert.Equal(" 8214 40000 a-very-long-g+    12 www-dat+ R         0       0 2-00:00:00 httpd -f", line);
        Assert.Equal(StatFormat.ProcessHeader.IndexOf("GPID", StringComparison.Ordinal) + 4, line.IndexOf("12", 5, StringComparison.Ordinal) + 2);
    }

    [Fact]
    public void StatLinesWithHostileCommandNamesParse()
    {
        // a guest picks its own comm: spaces, parentheses and control characters included
        var line = "4242 (evil) (x\u001b[2J) S 4000 4242 4242 0 -1 4194560 100 0 0 0 12 34 5 6 15 -5 3 0 987654 2322432 332 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        var st = ProcFs.ParseStat(Encoding.UTF8.GetBytes(line));
        Assert.NotNull(st);
        Assert.Equal("evil) (x?[2J", st!.Comm);
        Assert.Equal('S', st.State);
        Assert.Equal(4000, st.ParentId);
        Assert.Equal(12UL, st.UserTicks);
        Assert.Equal(34UL, st.SystemTicks);
        Assert.Equal(3, st.Threads);
        Assert.Equal(-5, st.Nice);
        Assert.Equal(987654UL, st.StartTicks);
        Assert.Equal(2322432UL, st.VirtualBytes);
        Assert.Equal(332, st.ResidentPages);

        Assert.Null(ProcFs.ParseStat("4242 (cut) S 1 2 3"u8));
        Assert.Null(ProcFs.ParseStat("no parentheses at all"u8));
        Assert.Null(ProcFs.ParseStat("1 (x) SS 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23"u8));
    }

    [Fact]
    public void OwnProcessReadsBackAndAVanishedOneIsNull()
    {
        var self = Environment.ProcessId;
        var st = ProcFs.Stat(self);
        Assert.NotNull(st);
        Assert.True(st!.Threads >= 1);
        Assert.True(st.VirtualBytes > 0 && st.ResidentPages > 0);
        var status = ProcFs.Status(self);
        Assert.Equal(Native.Sys.GetEuid(), status!.UserId);
        Assert.Equal(self, status.NsPids[0]);
        Assert.Contains("dotnet", ProcFs.CommandLine(self) ?? "", StringComparison.Ordinal);
        Assert.NotNull(ProcFs.CgroupPath(self, ""));

        var gone = int.MaxValue - 7; // above pid_max: never a process
        Assert.Null(ProcFs.Stat(gone));
        Assert.Null(ProcFs.Status(gone));
        Assert.Null(ProcFs.CommandLine(gone));
        Assert.Null(ProcFs.CgroupPath(gone, "pids"));
        Assert.DoesNotContain(gone, ProcFs.Pids());
        Assert.Contains(self, ProcFs.Pids());
    }

    [Fact]
    public void PrintableReplacesControlCharacters()
    {
        Assert.Equal("a?b c", ProcFs.Printable("a\u0007b\0c"u8, nulAsSpace: true));
        Assert.Equal("a?b?c", ProcFs.Printable("a\u009bb\nc"u8));
        Assert.Equal("\uFFFDok", ProcFs.Printable(new byte[] { 0xff, (byte)'o', (byte)'k' }));
    }

    [Theory]
    [InlineData("TERM", 15)]
    [InlineData("sigkill", 9)]
    [InlineData("SIGHUP", 1)]
    [InlineData("9", 9)]
    [InlineData("usr1", 10)]
    [InlineData("RTMIN+2", 36)]
    [InlineData("rtmax", 64)]
    public void SignalsParse(string text, int number)
    {
        Assert.Equal(number, Signals.Parse(text));
        Assert.Equal(number, Signals.Parse(Signals.Name(number)));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("65")]
    [InlineData("-9")]
    [InlineData("TERMINATE")]
    [InlineData("RTMIN+40")]
    [InlineData("")]
    public void BadSignalsAreRefusedByName(string text)
    {
        var e = Assert.Throws<VServerException>(() => Signals.Parse(text));
        Assert.Equal("InvalidSignal", e.ErrorId);
        Assert.Contains($"'{text}'", e.Message);
    }

    [Fact]
    public void PasswdIsReadAsData()
    {
        var p = new Passwd("root:x:0:0:root:/root:/bin/sh\nbad line\nx:x:notanumber:1::/:\nwww\u001b[31m:x:33:33::/:\n:x:5:5::/:\n");
        Assert.Equal("root", p.NameOf(0));
        Assert.Equal("www?[31m", p.NameOf(33));
        Assert.Equal("5", p.NameOf(5)); // an empty name is no name
        Assert.Equal("1234", p.NameOf(1234));
        Assert.Equal((0u, 0u), p.Find("root"));
        Assert.Null(p.Find("x"));
    }

    [Fact]
    public void MembershipIsTheGuestsCgroupOrOneBelowIt()
    {
        // a "running" guest whose init is this test process: the table then knows it without root
        using var roots = new TempRoots();
        var run = new RunDirectory(roots.Paths, "web1");
        Directory.CreateDirectory(run.Dir);
        run.WriteState(new RunState
        {
            Instance = "i",
            InitPid = Environment.ProcessId,
            InitStartTicks = ProcFs.StartTicks(Environment.ProcessId)!.Value,
            StartTime = DateTimeOffset.UtcNow,
            Runtime = "runc",
            RuntimeRoot = "/nonexistent",
            CgroupsPath = Cgroups.PathFor(roots.Paths, "web1"),
            Context = 40007,
        });
        Directory.CreateDirectory(Path.Combine(roots.Paths.RunRoot, "stale")); // no state: not running
        var table = new ProcessTable(roots.Paths);
        var g = Assert.Single(table.Guests);
        Assert.Equal(("web1", 40007), (g.Name, g.Context));
        var parent = Cgroups.ParentFor(roots.Paths); // /vserver.KEY: these roots are not the default installation
        Assert.Same(g, table.GuestOf(parent + "/web1"));
        Assert.Same(g, table.GuestOf(parent + "/web1/nested/deeper"));
        Assert.Null(table.GuestOf(parent + "/web10", out var foreign));
        Assert.True(foreign); // some other guest: neither web1 nor the host
        Assert.Null(table.GuestOf("/vserver/web1", out foreign));
        Assert.True(foreign); // the default installation's web1: a guest, but not ours
        Assert.Null(table.GuestOf("/vserverx/web1", out foreign));
        Assert.False(foreign);
        Assert.Null(table.GuestOf("/"));
        Assert.Null(table.GuestOf("/user.slice/vserver/web1"));
        Assert.Contains("\"Context\":40007", File.ReadAllText(run.StateFile));
        Assert.Equal(40007, JsonSerializer.Deserialize<RunState>(File.ReadAllText(run.StateFile))!.Context);
    }
}
