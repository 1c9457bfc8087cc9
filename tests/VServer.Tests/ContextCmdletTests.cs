using System.Globalization;
using System.Management.Automation;
using VServer.Processes;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>Get-VServerContext, Get-VServerProcess and Stop-VServerProcess as a user types them, against real guests.</summary>
public class ContextCmdletTests
{
    private static string Unique(string prefix) => PowerShellSession.Unique(prefix);

    private static PowerShellSession Running(params string[] names) => PowerShellSession.WithGuests(names, start: true);

    /// <summary>Starts an idle sleep in the guest and returns its guest pid.</summary>
    private static int Sleep(PowerShellSession s, string guest, int seconds)
    {
        var o = s.Invoke($"Invoke-VServerCommand {guest} -- sh -c 'sleep {seconds} >/dev/null 2>&1 </dev/null & echo $!'");
        Assert.Empty(s.Errors);
        return int.Parse((string)Assert.Single(o).BaseObject, CultureInfo.InvariantCulture);
    }

    private static string[] Lines(string text) => text.Split('\n').Select(l => l.TrimEnd('\r', ' ')).Where(l => l.Length > 0).ToArray();

    [GuestFact]
    public void TableViewsRenderTheVserverStatAndVpsLayouts()
    {
        var a = Unique("va");
        var b = Unique("vb");
        using var s = Running(a, b);
        Sleep(s, a, 600);

        // vserver-stat: its header, PowerShell's rule under it, then one row per context in its column formats
        s.Invoke("$contexts = Get-VServerContext");
        var contexts = s.Invoke("$contexts").Select(o => (ContextInfo)o.BaseObject).ToArray();
        Assert.Equal(new[] { 0, 1, 1 }, contexts.Select(c => c.Context == 0 ? 0 : 1));
        Assert.Equal(new[] { "root server", a, b }, contexts.Select(c => c.Name));
        Assert.Equal("VServer.Context", s.Invoke("$contexts[0].PSObject.TypeNames[0]")[0].BaseObject);
        var lines = Lines(s.Render("$contexts"));
        Assert.Equal(StatFormat.ContextHeader, lines[0]);
        Assert.Equal("---   ----    ---    ---  --------   -------    ------ ----", lines[1]);
        Assert.Equal(contexts.Select(StatFormat.ContextLine), lines[2..]);
        Assert.Matches(@"^0 +\d+ +[\d.]+[KMGT] +[\d.]+[KMGT] +\d+[hdm]\d\d[hms]\d\d +\d+[hdm]\d\d[hms]\d\d +\d+[hdm]\d\d[hms]\d\d root server$", lines[2]);

        // vps: PID, "CONTEXT" as the number and the guest's name, then the ps columns
        s.Invoke($"$processes = Get-VServerProcess {a}");
        var processes = s.Invoke("$processes").Select(o => (ProcessInfo)o.BaseObject).ToArray();
        Assert.Equal(2, processes.Length);
        lines = Lines(s.Render("$processes"));
        Assert.Equal(StatFormat.ProcessHeader, lines[0]);
        Assert.Equal(processes.Select(StatFormat.ProcessLine), lines[2..]);
        Assert.Matches($@"^ *\d+ +\d+ {a} +1 root +S +\d+ +\d+ 00:00:00 init$", lines[2]);
        // the host's processes are "0 MAIN"
        var mine = Lines(s.Render("Get-VServerProcess -Context 0 | Where-Object Id -eq $PID"));
        Assert.Matches(@"^ *\d+     0 MAIN +- ", mine[2]);
    }

    [GuestFact]
    public void SelectionByNameContextAndPipeline()
    {
        var a = Unique("sa");
        var stopped = Unique("ss");
        using var s = Running(a);
        s.Invoke($"New-VServerGuest {stopped} -Method Busybox | Out-Null");
        var ctx = (int)s.Invoke($"(Get-VServerGuest {a}).Context")[0].BaseObject;

        var c = Assert.Single(s.Invoke($"Get-VServerGuest {a} | Get-VServerContext")); // Name and Context both bind: one context
        Assert.Equal(ctx, ((ContextInfo)c.BaseObject).Context);
        Assert.Equal(a, ((ContextInfo)Assert.Single(s.Invoke($"Get-VServerContext -Context {ctx}")).BaseObject).Name);
        Assert.Equal("root server", ((ContextInfo)Assert.Single(s.Invoke("Get-VServerContext -Context 0")).BaseObject).Name);
        Assert.Equal(2, s.Invoke($"Get-VServerContext -Name {a[..2]}* -Context 0").Count);
        Assert.Empty(s.Errors);

        s.Invoke($"Get-VServerContext {stopped}");
        Assert.Equal("GuestNotRunning", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Invoke("Get-VServerProcess nosuchguest");
        Assert.Equal("GuestNotFound", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Invoke("Get-VServerContext -Context 49000");
        Assert.Equal("GuestNotRunning", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        Assert.Empty(s.Invoke("Get-VServerContext nomatch*"));
        Assert.Empty(s.Errors);

        var mine = s.Invoke("Get-VServerProcess -Context 0 | Where-Object Id -eq $PID");
        Assert.Equal(0, ((ProcessInfo)Assert.Single(mine).BaseObject).Context);

        // the issue's pipeline: contexts with more than 1 MB resident → restart, context 0 left alone with a warning
        var text = s.Render("Get-VServerContext | Where-Object ResidentMemory -gt 1MB | Restart-VServerGuest -WhatIf -WarningAction SilentlyContinue");
        Assert.Contains($"What if: Performing the operation \"Restart guest\" on target \"{a}\".", text);
        var warning = s.Invoke("Get-VServerContext | Where-Object ResidentMemory -gt 1MB | Restart-VServerGuest -WhatIf -WarningAction SilentlyContinue -WarningVariable w; $w.Message");
        Assert.Equal("Context 0 is the host (root server), not a guest; it is left alone.", Assert.Single(warning).BaseObject);
        Assert.Empty(s.Errors);
    }

    [GuestFact]
    public void StopVServerProcessSignalsOnlyThatGuestsProcesses()
    {
        var a = Unique("ka");
        var b = Unique("kb");
        using var s = Running(a, b);
        var httpd = Sleep(s, a, 601);
        var keep = Sleep(s, a, 602);
        var other = Sleep(s, b, 603);
        int HostPid(string guest, int gpid) =>
            (int)s.Invoke($"(Get-VServerProcess {guest} | Where-Object GuestId -eq {gpid}).Id")[0].BaseObject;
        var otherHost = HostPid(b, other);
        bool Alive(string guest, int gpid) => s.Invoke($"Get-VServerProcess {guest} | Where-Object GuestId -eq {gpid}").Count == 1;

        // -WhatIf and refusals change nothing
        s.Invoke($"Stop-VServerProcess {a} -Id {httpd} -WhatIf");
        Assert.Empty(s.Errors);
        s.Invoke($"Stop-VServerProcess {a} -Id 31999"); // guest pids are per guest: b's pids mean nothing in a
        Assert.Equal("ProcessNotFound", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Invoke($"Stop-VServerProcess {a} -HostId {otherHost},$PID -Signal KILL");
        Assert.Equal(new[] { "ProcessNotInGuest", "ProcessNotInGuest" }, s.Errors.Select(e => e.FullyQualifiedErrorId.Split(',')[0]));
        Assert.Equal(otherHost, s.Errors[0].TargetObject);
        s.Invoke("Get-VServerProcess -Context 0 | Where-Object Id -eq $PID | Stop-VServerProcess -Signal KILL");
        Assert.Equal("ProcessNotInGuest", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Invoke($"Stop-VServerProcess {a} -Id {httpd} -Signal NOSUCH");
        Assert.Equal("InvalidSignal", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        Assert.True(Alive(a, httpd) && Alive(a, keep) && Alive(b, other));

        // the issue's pipeline: by command line, piped
        var killed = s.Invoke($"Get-VServerProcess {a} | Where-Object CommandLine -match 'sleep 601' | Stop-VServerProcess -PassThru");
        Assert.Empty(s.Errors);
        Assert.Equal(httpd, ((ProcessInfo)Assert.Single(killed).BaseObject).GuestId);
        Assert.True(TestEnvironment.WaitFor(() => !Alive(a, httpd), 5), "the piped process still runs");

        // by guest pid
        s.Invoke($"Stop-VServerProcess -Name {a} -Id {keep} -Signal 9");
        Assert.Empty(s.Errors);
        Assert.True(TestEnvironment.WaitFor(() => !Alive(a, keep), 5), "process {keep} still runs");
        Assert.True(Alive(b, other));
    }

    [GuestFact]
    public void TestVServerHostReportsEachCheck()
    {
        using var s = new PowerShellSession();
        var checks = s.Invoke("Test-VServerHost").Select(o => (HostCheck)o.BaseObject).ToList();
        Assert.Empty(s.Errors);
        Assert.Equal(VServer.Runtime.HostChecks.Names.Count, checks.Count);
        Assert.Contains(checks, c => c.Check == "lxcfs");
        Assert.Equal(8, s.Invoke("Test-VServerHost namespace*").Count);
        var quiet = Assert.Single(s.Invoke("Test-VServerHost -Quiet"));
        Assert.Equal(checks.All(c => c.Status != CheckStatus.Fail), quiet.BaseObject);
        var table = s.Render("Test-VServerHost root, conmon");
        Assert.Matches(@"Check +Status +Detail", table);
        Assert.Matches(@"root +Pass +running as root", table);
    }

    [GuestFact]
    public void NetworkModesAndGetVServerNetwork()
    {
        var n = Unique("nw");
        var quiet = Unique("nq");
        var bridge = "vst" + Guid.NewGuid().ToString("N")[..6];
        var net = $"10.214.{Random.Shared.Next(1, 250)}";
        using var s = new PowerShellSession();
        try
        {
            var g = Assert.Single(s.Invoke($"New-VServerGuest {n} -Method Busybox -Interface eth0:{net}.2/24 -Bridge {bridge}"));
            Assert.Equal(("Bridge", bridge), (g.Properties["NetworkMode"].Value.ToString(), (string)g.Properties["Bridge"].Value));
            var q = Assert.Single(s.Invoke($"New-VServerGuest {quiet} -Method Busybox"));
            Assert.Equal("None", q.Properties["NetworkMode"].Value.ToString());
            s.Invoke($"Set-VServerGuest {n} -Bridge 'not a bridge'");
            Assert.Equal("InvalidBridge", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
            s.Invoke($"Get-VServerNetwork {n}");
            Assert.Equal("GuestNotRunning", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);

            s.Invoke($"Start-VServerGuest {n},{quiet}");
            Assert.Empty(s.Errors);
            var eth0 = (GuestInterface)Assert.Single(s.Invoke($"Get-VServerNetwork {n} -ExcludeLoopback")).BaseObject;
            Assert.Equal(("eth0", NetworkMode.Bridge, VServer.Runtime.GuestNetwork.NamespaceOf(s.Paths, n)), (eth0.Name, eth0.Mode, eth0.Namespace));
            Assert.StartsWith("vs-" + s.Paths.InstallationKey + "-", eth0.Namespace); // keyed: the test's roots are not the default installation
            Assert.Contains($"{net}.2/24", eth0.Addresses);
            Assert.Equal("lo", ((GuestInterface)Assert.Single(s.Invoke($"Get-VServerNetwork {quiet}")).BaseObject).Name);
            Assert.Matches($@"{n} +eth0 +vs[0-9a-f]{{8}}\.0 +Bridge +UP", s.Render($"Get-VServerNetwork {n} -ExcludeLoopback"));
            s.Invoke($"Stop-VServerGuest {n},{quiet} -Timeout 2");
            Assert.False(File.Exists(VServer.Runtime.GuestNetwork.NamespacePath(s.Paths, n)));
        }
        finally
        {
            VServer.Runtime.Ip.TryRun("link", "delete", bridge);
        }
    }
}
