using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using VServer.Runtime;
using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>An sshd of the test's own on 127.0.0.1 with throw-away keys: the "other host".</summary>
internal sealed class TestSshd : IDisposable
{
    private readonly Process _sshd;

    public TestSshd(string dir)
    {
        Dir = dir;
        Directory.CreateDirectory(dir);
        foreach (var key in new[] { "host", "client" })
        {
            var r = HostProcess.Run("ssh-keygen", new[] { "-q", "-t", "ed25519", "-N", "", "-f", Path.Combine(dir, key) });
            Assert.True(r.ExitCode == 0, r.StandardError);
        }
        File.Copy(Path.Combine(dir, "client.pub"), Path.Combine(dir, "authorized_keys"));
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        File.WriteAllText(Path.Combine(dir, "sshd_config"),
            $"ListenAddress 127.0.0.1\nPort {Port}\nHostKey {dir}/host\nPidFile {dir}/sshd.pid\nAuthorizedKeysFile {dir}/authorized_keys\n" +
            "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n");
        Directory.CreateDirectory("/run/sshd");
        _sshd = Process.Start(new ProcessStartInfo("/usr/sbin/sshd") { ArgumentList = { "-D", "-f", Path.Combine(dir, "sshd_config"), "-E", Path.Combine(dir, "sshd.log") } })!;
        Assert.True(TestEnvironment.WaitFor(() =>
        {
            try
            {
                using var c = new TcpClient("127.0.0.1", Port);
                return true;
            }
            catch (SocketException)
            {
                return false;
            }
        }, 10), "sshd did not listen: " + (File.Exists(Path.Combine(dir, "sshd.log")) ? File.ReadAllText(Path.Combine(dir, "sshd.log")) : ""));
    }

    public string Dir { get; }

    public int Port { get; }

    public IReadOnlyList<string> ClientOptions => new[]
    {
        "Port=" + Port.ToString(CultureInfo.InvariantCulture), $"IdentityFile={Dir}/client", "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR",
    };

    public void Dispose()
    {
        try
        {
            _sshd.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
        _sshd.WaitForExit();
        _sshd.Dispose();
    }
}

/// <summary>Move-VServerGuest between two VServer installations on this machine, over ssh to 127.0.0.1.</summary>
[Collection("guests")]
public class MoveTests
{
    /// <summary>The other installation's vserver command: its roots, then the staged CLI; "slow" waits before it reads its input.</summary>
    private static string Wrapper(TempRoots dest, string name, bool slow)
    {
        var path = Path.Combine(dest.Base, name);
        var cli = TestEnvironment.CliPath;
        File.WriteAllText(path,
            "#!/bin/sh\n" +
            $"export VSERVER_CONFIG_ROOT='{dest.Paths.ConfigRoot}' VSERVER_VDIR_ROOT='{dest.Paths.VdirRoot}' VSERVER_RUN_ROOT='{dest.Paths.RunRoot}' VSERVER_CLI='{cli}'\n" +
            (slow ? $"if [ \"$2\" = import ]; then (sleep 3; cat) | '{cli}' \"$@\"; exit $?; fi\n" : "") +
            $"exec '{cli}' \"$@\"\n");
        File.SetUnixFileMode(path, (UnixFileMode)0x1ED);
        return path;
    }

    private static string Listing(string dir) => Directory.Exists(dir)
        ? string.Join("\n", Directory.EnumerateFileSystemEntries(dir, "*", SearchOption.AllDirectories).Where(p => !p.EndsWith("/.lock", StringComparison.Ordinal)).Order(StringComparer.Ordinal))
        : "";

    [GuestFact]
    public void ARunningGuestMovesStartsThereAndACutTransferLeavesItHereAndNothingThere()
    {
        using var g = new LiveGuest(c => c.Context = 3394);
        using var dest = new TempRoots();
        using var sshd = new TestSshd(Path.Combine(dest.Base, "ssh"));
        g.Sh("echo moved-with-me > /srv-note");
        var options = new MoveOptions { Destination = "root@127.0.0.1", SshOptions = sshd.ClientOptions, StopTimeout = TimeSpan.Zero };
        var destStore = new GuestStore(dest.Paths);
        var destRuntime = new GuestRuntime(destStore);
        var destBefore = Listing(dest.Paths.ConfigRoot) + Listing(dest.Paths.VdirRoot);

        var moveDirs = Directory.GetDirectories(Path.GetTempPath(), "vserver-move-*").Order(StringComparer.Ordinal).ToArray();
        // ssh killed in the middle of the transfer: the guest stays here and runs again; nothing there
        var slow = Wrapper(dest, "vserver-slow", slow: true);
        var move = Task.Run(() => Record.Exception(() => GuestMover.Move(g.Store, g.Runtime, g.Name, options with { RemoteCommand = slow })));
        int? client = null;
        Assert.True(TestEnvironment.WaitFor(() =>
        {
            client = ProcFs.Pids().Cast<int?>().FirstOrDefault(p => ProcFs.Stat(p!.Value) is { Comm: "ssh" } && File.ReadAllText($"/proc/{p}/cmdline").Contains(slow, StringComparison.Ordinal));
            return client is not null;
        }, 20), "the move's ssh did not start");
        Native.Sys.Signal(client!.Value, 9);
        var e = Assert.IsType<VServerException>(move.Result);
        Assert.Equal("MoveFailed", e.ErrorId);
        Assert.True(g.Store.Exists(g.Name));
        Assert.Equal(GuestState.Running, g.Runtime.Status(g.Name).State);
        Assert.Equal("moved-with-me", g.Sh("cat /srv-note").Trim());
        Assert.True(TestEnvironment.WaitFor(() => Listing(dest.Paths.ConfigRoot) + Listing(dest.Paths.VdirRoot) == destBefore, 15),
            "the other side kept: " + Listing(dest.Paths.ConfigRoot) + Listing(dest.Paths.VdirRoot));
        Assert.Equal(moveDirs, Directory.GetDirectories(Path.GetTempPath(), "vserver-move-*").Order(StringComparer.Ordinal).ToArray()); // its FIFO's directory is gone too

        // the move: stopped here, imported and started there, then removed here
        var result = GuestMover.Move(g.Store, g.Runtime, g.Name, options with { RemoteCommand = Wrapper(dest, "vserver-b", slow: false) });
        try
        {
            Assert.True(result.Bytes > 100_000, $"{result.Bytes} bytes went over ssh");
            Assert.True(result.StartedThere);
            Assert.True(result.SourceRemoved);
            Assert.False(g.Store.Exists(g.Name));
            Assert.Equal(3394, destStore.ReadConfig(g.Name).Context);
            Assert.Equal(GuestState.Running, destRuntime.Status(g.Name).State);
            var lines = new List<string>();
            Assert.Equal(0, destRuntime.Exec(g.Name, new ExecRequest(new[] { "cat", "/srv-note" }), lines.Add, _ => { }));
            Assert.Equal("moved-with-me", Assert.Single(lines));
        }
        finally
        {
            if (destStore.Exists(g.Name))
            {
                destRuntime.Stop(g.Name, TimeSpan.Zero);
                destStore.Remove(g.Name);
            }
        }
    }

    [Fact]
    public void ADestinationOrOptionThatCouldBeReadAsAnSshOptionIsRefused()
    {
        using var roots = new TempRoots();
        var store = new GuestStore(roots.Paths);
        var runtime = new GuestRuntime(store);
        foreach (var bad in new[] { "-oProxyCommand=touch /tmp/x", "root@host;reboot", "host name", "" })
        {
            var e = Assert.Throws<VServerException>(() => GuestMover.Move(store, runtime, "web1", new MoveOptions { Destination = bad }));
            Assert.Equal("InvalidDestination", e.ErrorId);
        }
        Assert.Equal("InvalidSshOption", Assert.Throws<VServerException>(() =>
            GuestMover.Move(store, runtime, "web1", new MoveOptions { Destination = "host", SshOptions = new[] { "-F/etc/passwd" } })).ErrorId);
    }
}
