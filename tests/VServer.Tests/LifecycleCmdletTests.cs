using System.Management.Automation;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>The lifecycle pipelines a user types, against real guests (root, runc, conmon).</summary>
public class LifecycleCmdletTests
{
    private static string Unique(string prefix) => PowerShellSession.Unique(prefix);

    private static PowerShellSession WithGuests(params string[] names) => PowerShellSession.WithGuests(names);

    [GuestFact]
    public void StartPassThruShowsARunningGuest()
    {
        var n = Unique("ps");
        using var s = WithGuests(n);
        var g = Assert.Single(s.Invoke($"Start-VServerGuest {n} -PassThru"));
        Assert.Empty(s.Errors);
        Assert.Equal("Running", g.Properties["State"].Value.ToString());
        Assert.True((int)g.Properties["ProcessCount"].Value >= 1);
        Assert.NotNull(g.Properties["StartTime"].Value);
        Assert.True(((TimeSpan)g.Properties["Uptime"].Value) >= TimeSpan.Zero);
        Assert.Contains("Running", s.Render($"Get-VServerGuest {n}"));

        // a running guest cannot be started again, nor removed
        s.Invoke($"Start-VServerGuest {n}");
        Assert.Equal("GuestAlreadyRunning", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Invoke($"Remove-VServerGuest {n} -Confirm:$false");
        Assert.Equal("GuestRunning", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);

        var stopped = Assert.Single(s.Invoke($"Get-VServerGuest {n} | Stop-VServerGuest -PassThru"));
        Assert.Equal("Stopped", stopped.Properties["State"].Value.ToString());
        Assert.Equal(0, (int)stopped.Properties["ProcessCount"].Value);
        s.Invoke($"Stop-VServerGuest {n}");
        Assert.Equal("GuestNotRunning", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
    }

    [GuestFact]
    public void ARiskyCapabilityIsKeptButItsStartWarnsAndEveryGuestHasAProcessLimit()
    {
        var n = Unique("rc");
        using var s = WithGuests(n);
        var caps = s.Invoke($"(Get-VServerGuest {n}).BoundingSet").Select(c => c.BaseObject.ToString()).ToArray();
        Assert.DoesNotContain("CAP_SYS_PTRACE", caps);
        Assert.DoesNotContain("CAP_DAC_READ_SEARCH", caps);
        Assert.Equal(16384L, s.Invoke($"(Get-VServerGuest {n}).ProcessLimit")[0].BaseObject);

        // with private users (the default for a new guest) a capability is its user namespace's: no warning
        Assert.True((bool)s.Invoke($"(Get-VServerGuest {n}).PrivateUsers")[0].BaseObject);
        s.Invoke($"Set-VServerGuest {n} -Capability NET_RAW,SYS_PTRACE");
        Assert.Empty(s.Invoke($"Start-VServerGuest {n} -WarningVariable w -WarningAction SilentlyContinue; @($w.Message) -like '*CAP_SYS_PTRACE*'"));
        s.Invoke($"Stop-VServerGuest {n} -Timeout 0");
        // its root host root again: the same capability takes the host over, and the start says so
        s.Invoke($"Set-VServerGuest {n} -PrivateUsers:$false");
        Assert.Empty(s.Errors);
        var warning = Assert.Single(s.Invoke($"Start-VServerGuest {n} -WarningVariable w -WarningAction SilentlyContinue; @($w.Message) -like '*CAP_SYS_PTRACE*'"));
        Assert.Contains("CAP_SYS_PTRACE", warning.BaseObject.ToString());
        Assert.Contains($"Set-VServerGuest {n} -Capability 'CAP_NET_RAW'", warning.BaseObject.ToString());
        Assert.Contains("CAP_SYS_PTRACE", s.Invoke($"(Get-VServerGuest {n}).BoundingSet").Select(c => c.BaseObject.ToString()));
        Assert.Equal("Running", s.Invoke($"(Get-VServerGuest {n}).State.ToString()")[0].BaseObject);
        var pidsMax = Path.Combine(VServer.Runtime.Cgroups.Hierarchies()["pids"] + VServer.Runtime.Cgroups.PathFor(s.Paths, n), "pids.max");
        Assert.Equal("16384", File.ReadAllText(pidsMax).Trim());
    }

    [GuestFact]
    public void PrivateUsersAsTypedNewStartGetProcessAndOff()
    {
        var n = Unique("pu");
        var m = Unique("pv");
        using var s = new PowerShellSession();
        s.Invoke($"New-VServerGuest {n} -Method Busybox -PrivateUsers | Out-Null; New-VServerGuest {m} -Method Busybox -PrivateUsers | Out-Null");
        Assert.Empty(s.Errors);
        var ranges = s.Invoke($"Get-VServerGuest {n},{m} | ForEach-Object {{ $_.UserRange }}").Select(o => (IdRange)o.BaseObject).ToArray();
        Assert.Equal(2, ranges.Length);
        Assert.False(ranges[0].Overlaps(ranges[1]));
        Assert.Equal(new object[] { true, true }, s.Invoke($"(Get-VServerGuest {n},{m}).PrivateUsers").Select(o => o.BaseObject));

        s.Invoke($"Start-VServerGuest {n}");
        Assert.Empty(s.Errors);
        Assert.Equal("0", s.Invoke($"Invoke-VServerCommand {n} -Command id,-u")[0].BaseObject.ToString()!.Trim());
        // the host's view: the host uid of its range, the guest's own name for it
        var init = s.Invoke($"Get-VServerProcess {n} | Where-Object GuestId -eq 1")[0];
        Assert.Equal((uint)ranges[0].First, (uint)init.Properties["UserId"].Value);
        Assert.Equal(0u, (uint)init.Properties["GuestUserId"].Value);
        Assert.Equal("root", init.Properties["User"].Value);

        // -WhatIf changes nothing; off then drops the range (it applies at the next start: this one keeps running as it is)
        s.Invoke($"Set-VServerGuest {m} -PrivateUsers:$false -WhatIf");
        Assert.Equal(ranges[1], s.Invoke($"(Get-VServerGuest {m}).UserRange")[0].BaseObject);
        s.Invoke($"Set-VServerGuest {m} -PrivateUsers:$false");
        Assert.Empty(s.Errors);
        Assert.Equal(new object?[] { false, null }, s.Invoke($"$g = Get-VServerGuest {m}; $g.PrivateUsers; $g.UserRange").Select(o => o?.BaseObject));
        s.Invoke($"Set-VServerGuest {m} -Clear PrivateUsers");
        Assert.Empty(s.Errors);
        // on a running guest the change is named as one for the next start
        var warning = s.Invoke($"Set-VServerGuest {n} -PrivateUsers:$false -WarningVariable w -WarningAction SilentlyContinue; $w.Message");
        Assert.Contains($"from its next start (Restart-VServerGuest {n})", Assert.Single(warning).BaseObject.ToString());
        Assert.Equal((uint)ranges[0].First, VServer.Runtime.ProcFs.Status((int)init.Properties["Id"].Value)!.UserId); // it still runs as it started
        Assert.Equal("Stopped", s.Invoke($"Get-VServerGuest {n} | Stop-VServerGuest -PassThru | ForEach-Object {{ $_.State.ToString() }}")[0].BaseObject);
    }

    [GuestFact]
    public void SetOnARunningGuestAsTypedChangesLimitsLiveAndListsWhatWaits()
    {
        var n = Unique("lv");
        using var s = new PowerShellSession();
        s.Invoke($"New-VServerGuest {n} -Method Busybox -MemoryLimit 64MB | Start-VServerGuest");
        Assert.Empty(s.Errors);
        var cgroup = VServer.Runtime.Cgroups.PathFor(s.Paths, n);

        // -WhatIf names both kinds and changes nothing
        var text = s.Render($"Set-VServerGuest {n} -MemoryLimit 128MB -CpuWeight 50 -Hostname www -WhatIf");
        Assert.Contains($"What if: Performing the operation \"Change guest configuration (change now: MemoryLimit, CpuWeight; at its next start: Hostname)\" on target \"{n}\".", text);
        Assert.Equal(64L << 20, VServer.Runtime.Cgroups.Usage(cgroup).MemoryLimit);

        // as typed: the limit changes at once, the hostname is named and pending
        var warning = s.Invoke($"Set-VServerGuest {n} -MemoryLimit 128MB -CpuWeight 50 -Hostname www -WarningVariable w -WarningAction SilentlyContinue; $w.Message");
        Assert.Empty(s.Errors);
        Assert.Contains($"Hostname applies from its next start (Restart-VServerGuest {n})", Assert.Single(warning).BaseObject.ToString());
        Assert.Equal((128L << 20, (int?)50), (VServer.Runtime.Cgroups.Usage(cgroup).MemoryLimit!.Value, VServer.Runtime.Cgroups.Usage(cgroup).CpuWeight));
        var g = (Guest)s.Invoke($"Get-VServerGuest {n}")[0].BaseObject;
        Assert.Equal(new[] { "Hostname" }, g.PendingRestart);
        Assert.Equal((128L << 20, 50), (g.MemoryLimit!.Value, g.CpuWeight));

        // a limit the guest's use does not fit: an error naming the use, nothing changed
        s.Invoke($"Set-VServerGuest {n} -ProcessLimit 0");
        Assert.Equal("InvalidProcessLimit", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Errors.Clear();
        s.Invoke($"Invoke-VServerCommand {n} -Command sh,-c,'sleep 1000 >/dev/null 2>&1 & sleep 1000 >/dev/null 2>&1 &' | Out-Null; Set-VServerGuest {n} -ProcessLimit 1");
        var e = Assert.Single(s.Errors);
        Assert.Equal("LimitBelowUsage", e.FullyQualifiedErrorId.Split(',')[0]);
        Assert.Matches("uses [0-9]+ processes now", e.Exception.Message);
        Assert.Equal(16384L, (long)s.Invoke($"(Get-VServerGuest {n}).ProcessLimit")[0].BaseObject);

        // the next start applies what waited
        s.Errors.Clear();
        Assert.Empty(s.Invoke($"Restart-VServerGuest {n}; (Get-VServerGuest {n}).PendingRestart"));
        Assert.Empty(s.Errors);
        s.Invoke($"Stop-VServerGuest {n}");
    }

    [GuestFact]
    public void WaitAndTheConsoleLogAsTyped()
    {
        var n = Unique("wl");
        using var s = new PowerShellSession();
        s.Invoke($"New-VServerGuest {n} -Method Busybox | Start-VServerGuest | Out-Null");
        var up = s.Invoke($"Wait-VServerGuest {n} -Timeout 10 -PassThru");
        Assert.Empty(s.Errors);
        Assert.Equal(n, ((Guest)Assert.Single(up).BaseObject).Name);

        s.Invoke($"Invoke-VServerCommand {n} -Command sh,-c,'echo typed-line > /proc/1/fd/1' | Out-Null");
        Assert.True(TestEnvironment.WaitFor(() => s.Invoke($"Get-VServerLog {n} -Tail 1").Select(o => o.BaseObject).OfType<LogEntry>().Any(e => e.Message == "typed-line"), 5));
        var text = s.Render($"Get-VServerLog {n} -Tail 1");
        Assert.Contains("typed-line", text, StringComparison.Ordinal);
        Assert.Contains("TimeStamp", text, StringComparison.Ordinal);

        // -Wait follows until Ctrl+C
        var (output, ended) = s.InvokeUntil($"Get-VServerLog {n} -Tail 0 -Wait",
            () =>
            {
                // the runspace is busy following: the line is printed from outside it
                Thread.Sleep(300);
                new VServer.Runtime.GuestRuntime(new VServer.Storage.GuestStore(s.Paths)).Exec(n, new VServer.Runtime.ExecRequest(new[] { "sh", "-c", "echo followed-line > /proc/1/fd/1" }), null, null);
            },
            o => o.Any(x => x.BaseObject is LogEntry { Message: "followed-line" }), 10);
        Assert.True(ended);
        Assert.Contains(output, x => x.BaseObject is LogEntry { Message: "followed-line" });

        // a wait that times out is an error naming what it saw; Stop then wait, piped
        s.Invoke($"Wait-VServerGuest {n} -State Stopped -Timeout 0");
        var e = Assert.Single(s.Errors);
        Assert.Equal("WaitTimeout", e.FullyQualifiedErrorId.Split(',')[0]);
        Assert.Equal(ErrorCategory.OperationTimeout, e.CategoryInfo.Category);
        Assert.Contains("the guest runs", e.Exception.Message, StringComparison.Ordinal);
        var stopped = s.Invoke($"Stop-VServerGuest {n}; Get-VServerGuest {n} | Wait-VServerGuest -State Stopped -Timeout 5 -PassThru");
        Assert.Empty(s.Errors);
        Assert.Equal(GuestState.Stopped, ((Guest)Assert.Single(stopped).BaseObject).State);

        // started again: the last start's log is the previous one; -Previous and -Wait do not go together
        s.Invoke($"Start-VServerGuest {n}");
        Assert.Empty(s.Errors);
        var previous = s.Invoke($"Get-VServerLog {n} -Previous").Select(o => o.BaseObject).OfType<LogEntry>().Select(x => x.Message).ToList();
        Assert.Contains("followed-line", previous);
        Assert.DoesNotContain("followed-line", s.Invoke($"Get-VServerLog {n}").Select(o => o.BaseObject).OfType<LogEntry>().Select(x => x.Message));
        s.Invoke($"Get-VServerLog {n} -Previous -Wait");
        Assert.Equal("AmbiguousParameterSet", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Invoke($"Stop-VServerGuest {n}");
    }

    [GuestFact]
    public void WhatIfStartsNothing()
    {
        var n = Unique("wi");
        using var s = WithGuests(n);
        s.Invoke($"Start-VServerGuest {n} -WhatIf");
        Assert.Equal("Stopped", s.Invoke($"(Get-VServerGuest {n}).State.ToString()")[0].BaseObject);
        Assert.False(Directory.Exists(Path.Combine(s.Roots.Paths.RunRoot, n, "bundle")));
    }

    /// <summary>
    /// -ThrottleLimit N works on N guests at once from the first: each guest's command runs 3 s, and
    /// all eight begin before any ends. On .NET's thread pool (as before) the work began on two threads
    /// and more were added at about two a second, so a stop of 200 guests "64 at a time" ran a few at a time.
    /// </summary>
    [GuestFact]
    public void ThrottleLimitWorksOnThatManyGuestsAtOnce()
    {
        var names = Enumerable.Range(0, 8).Select(_ => Unique("tl")).ToArray();
        using var s = PowerShellSession.WithGuests(names, start: true);
        var lines = s.Invoke($"Invoke-VServerCommand {string.Join(',', names)} -ThrottleLimit 8 -- sh -c 'echo begin $(date +%s); sleep 3; echo end $(date +%s)'")
            .Select(o => ((string)o.BaseObject).Split(' ')).ToList();
        Assert.Empty(s.Errors);
        long[] Times(string what) => lines.Where(l => l[0] == what).Select(l => long.Parse(l[1], System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        var (begins, ends) = (Times("begin"), Times("end"));
        Assert.Equal(8, begins.Length);
        Assert.Equal(8, ends.Length);
        Assert.True(begins.Max() < ends.Min(), $"the last command began at {begins.Max()}, after the first had ended at {ends.Min()}");
        s.Invoke($"Stop-VServerGuest {string.Join(',', names)} -Timeout 0 -ThrottleLimit 8");
        Assert.Empty(s.Errors);
    }

    [GuestFact]
    public void InvokeStreamsOutputWithGuestNameAndReportsErrors()
    {
        var a = Unique("ia");
        var b = Unique("ib");
        using var s = WithGuests(a, b);
        s.Invoke($"Start-VServerGuest {a},{b} -ThrottleLimit 2");
        Assert.Empty(s.Errors);

        // the seeds' bulk-maintenance loop
        var lines = s.Invoke("Get-VServerGuest | Invoke-VServerCommand hostname");
        Assert.Empty(s.Errors);
        Assert.Equal(new[] { a, b }.Order(), lines.Select(l => (string)l.BaseObject).Order());
        Assert.All(lines, l => Assert.Equal(l.BaseObject, l.Properties["GuestName"].Value));

        // standard error is text for the host (information stream, tagged stderr), not an error: the exit code decides
        var output = s.Invoke($"Invoke-VServerCommand {a} -InformationVariable iv -- sh -c 'echo out; echo err >&2; exit 3'; $iv | ForEach-Object {{ 'info:' + $_.MessageData + ':' + ($_.Tags -join '+') }}; 'last:' + $LASTEXITCODE");
        Assert.Equal(new object[] { "out", $"info:err:PSHOST+stderr+{a}", "last:3" }, output.Select(o => o.BaseObject).ToArray());
        var failure = Assert.Single(s.Errors);
        Assert.Equal("NonZeroExitCode", failure.FullyQualifiedErrorId.Split(',')[0]);
        Assert.Equal(ErrorCategory.InvalidResult, failure.CategoryInfo.Category);
        Assert.Equal(3, failure.Exception.GetType().GetProperty("ExitCode")!.GetValue(failure.Exception));

        // a command that succeeds while it writes to standard error succeeds, even under -ErrorAction Stop
        var ok = s.Invoke($"$r = Invoke-VServerCommand {a} -ErrorAction Stop -- sh -c 'echo progress >&2; echo done' 6>$null; $r; $?; $LASTEXITCODE");
        Assert.Empty(s.Errors);
        Assert.Equal(new object[] { "done", true, 0 }, ok.Select(o => o.BaseObject).ToArray());

        // words as a native command gets them: pid,comm is one argument
        var ps = s.Invoke($"Invoke-VServerCommand {a} -- ps -o pid,comm");
        Assert.Empty(s.Errors);
        Assert.Matches(@"PID\s+COMMAND", (string)ps[0].BaseObject);

        var results = s.Invoke($"Invoke-VServerCommand {a},{b} -AsResult -Environment @{{ GREETING = 'hi' }} -WorkingDirectory /etc -- sh -c 'echo $GREETING; pwd; exit 4'");
        Assert.Empty(s.Errors);
        Assert.Equal(2, results.Count);
        foreach (var r in results)
        {
            var cr = Assert.IsType<VServer.CommandResult>(r.BaseObject);
            Assert.Equal(4, cr.ExitCode);
            Assert.Equal(new[] { "hi", "/etc" }, cr.Output);
            Assert.True(cr.Duration > TimeSpan.Zero);
        }

        var user = s.Invoke($"Invoke-VServerCommand {a} -User nobody -- id -u");
        Assert.Empty(s.Errors);
        Assert.Equal("65534", Assert.Single(user).BaseObject);

        // standard input: the given lines to each guest, then end of input; none without it
        var fed = s.Invoke($"Invoke-VServerCommand {a},{b} -AsResult -StandardInput 'yes','', 'ünï' -- sh -c 'cat -n; echo end'");
        Assert.Empty(s.Errors);
        foreach (var r in fed)
        {
            Assert.Equal(new[] { "     1\tyes", "     2\t", "     3\tünï", "end" }, ((VServer.CommandResult)r.BaseObject).Output);
        }
        var none = s.Invoke($"Invoke-VServerCommand {a} -- sh -c 'read x && echo read:$x || echo eof'");
        Assert.Equal("eof", Assert.Single(none).BaseObject);
    }

    [GuestFact]
    public void RestartGivesANewInit()
    {
        var n = Unique("rs");
        using var s = WithGuests(n);
        var before = (int)s.Invoke($"Start-VServerGuest {n} -PassThru")[0].Properties["InitPid"].Value;
        var after = (int)s.Invoke($"Restart-VServerGuest {n} -Timeout 10 -PassThru")[0].Properties["InitPid"].Value;
        Assert.Empty(s.Errors);
        Assert.NotEqual(before, after);
    }

    [GuestFact]
    public void StartOnBootStartsOnlyMarkedGuests()
    {
        var boot = Unique("ob");
        var manual = Unique("om");
        using var s = WithGuests(boot, manual);
        s.Invoke($"Set-VServerGuest {boot} -OnBoot");
        s.Invoke("Start-VServerGuest -OnBoot");
        Assert.Empty(s.Errors);
        Assert.Equal("Running", s.Invoke($"(Get-VServerGuest {boot}).State.ToString()")[0].BaseObject);
        Assert.Equal("Stopped", s.Invoke($"(Get-VServerGuest {manual}).State.ToString()")[0].BaseObject);
    }

    [GuestFact]
    public void EnterRunsAShellAndRefusesStoppedOrPrivateGuests()
    {
        var n = Unique("en");
        using var s = WithGuests(n);
        s.Invoke($"Enter-VServerGuest {n}");
        Assert.Equal("GuestNotRunning", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Invoke($"Start-VServerGuest {n}");
        // without a terminal the shell reads its (empty) standard input and ends
        s.Invoke($"Enter-VServerGuest {n} -Shell /bin/true");
        Assert.Empty(s.Errors);
        s.Invoke($"Stop-VServerGuest {n}; Set-VServerGuest {n} -Flag private; Start-VServerGuest {n}");
        Assert.Empty(s.Errors);
        s.Invoke($"Enter-VServerGuest {n}");
        Assert.Equal("GuestPrivate", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Invoke($"Invoke-VServerCommand {n} true");
        Assert.Equal("GuestPrivate", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
    }

    [GuestFact]
    public void OnBootStartsMarkedGuestsAfterTheirDependsAndRefusesACycleByName()
    {
        var (db, app, web, other, c1, c2) = (Unique("bdb"), Unique("bapp"), Unique("bweb"), Unique("both"), Unique("bcy"), Unique("bcz"));
        using var s = WithGuests(db, app, web, other, c1, c2);
        void Put(string guest, string rel, string content)
        {
            var f = Path.Combine(s.Paths.ConfigDir(guest), rel);
            Directory.CreateDirectory(Path.GetDirectoryName(f)!);
            File.WriteAllText(f, content);
        }
        // util-vserver's files: web and app are marked; app needs db (not marked), web needs app
        Put(web, "apps/init/mark", "default\n");
        Put(web, "apps/init/depends", app + "\n");
        Put(app, "apps/init/mark", "default\n");
        Put(app, "apps/init/depends", db + "\n");
        Put(other, "apps/init/mark", "later\n");
        Put(c1, "apps/init/mark", "default\n");
        Put(c1, "apps/init/depends", c2 + "\n");
        Put(c2, "apps/init/depends", c1 + "\n");

        // -WhatIf names each guest's level and what it waits for, and starts nothing
        var whatIf = s.Render("Start-VServerGuest -OnBoot -WhatIf -ErrorAction SilentlyContinue");
        Assert.Contains($"Start guest (boot level 2, after {app})", whatIf);
        Assert.Contains($"Start guest (boot level 0)\" on target \"{db}\"", whatIf);
        Assert.Empty(s.Invoke("Get-VServerGuest | Where-Object State -eq Running"));

        var started = s.Invoke("Start-VServerGuest -OnBoot -PassThru -ThrottleLimit 8").Select(o => (Guest)o.BaseObject).ToList();
        Assert.Equal(new[] { app, db, web }.Order(), started.Select(g => g.Name).Order());
        DateTimeOffset At(string n) => started.Single(g => g.Name == n).StartTime!.Value;
        Assert.True(At(db) < At(app) && At(app) < At(web), $"{At(db):O} {At(app):O} {At(web):O}");
        var cycle = s.Errors.Where(e => e.FullyQualifiedErrorId.StartsWith("BootOrderRefused", StringComparison.Ordinal)).Select(e => e.Exception.Message).ToList();
        Assert.Equal(2, cycle.Count);
        Assert.All(cycle, m => Assert.Contains($"{c1} -> {c2} -> {c1}", m));
        Assert.Equal(2, s.Errors.Count);
        foreach (var n in new[] { other, c1, c2 })
        {
            Assert.Equal("Stopped", s.Invoke($"(Get-VServerGuest {n}).State.ToString()")[0].BaseObject);
        }
        // another mark: only its guests
        var later = s.Invoke("Start-VServerGuest -OnBoot -Mark later -PassThru").Select(o => ((Guest)o.BaseObject).Name).ToList();
        Assert.Equal(new[] { other }, later);
    }
}
