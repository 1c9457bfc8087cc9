using VServer.Native;
using VServer.Runtime;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// conmon starts before a guest's bundle is written; the runtime's create it runs waits at a gate
/// (<c>vserver-ns gate FD COMMAND…</c>, FD a pipe's read end inherited through conmon) for one byte
/// '1'. Anything else — the pipe's end without it, another byte — ends it with status 1 and nothing run.
/// </summary>
public sealed class StartGateTests
{
    private static (int Code, string Out, string Err) Gated(Action<int> writer, Func<int, string[]> command)
    {
        TestEnvironment.UseStagedCli();
        var helper = GuestRuntime.CompanionProgram(OciRuntime.NamespaceHelper);
        Assert.True(helper is not null, "vserver-ns is not staged beside the vserver command (bash scripts/setup.sh)");
        var (read, write) = Sys.Pipe();
        try
        {
            using var gate = HostProcess.Spawn(helper!, new[] { "gate", read.ToString(System.Globalization.CultureInfo.InvariantCulture) }.Concat(command(read)).ToList(), inheritFds: new[] { read });
            Sys.Close(read);
            read = -1;
            writer(write);
            Sys.Close(write);
            write = -1;
            var r = gate.Wait();
            return (r.ExitCode, r.StandardOutput, r.StandardError);
        }
        finally
        {
            foreach (var fd in new[] { read, write })
            {
                if (fd >= 0)
                {
                    Sys.Close(fd);
                }
            }
        }
    }

    [Fact]
    public void TheCommandRunsOnceTheWordComes()
    {
        var (code, output, _) = Gated(fd => Sys.WriteAll(fd, "1"u8), fd => new[] { "/bin/sh", "-c", $"echo ran; test -e /proc/self/fd/{fd} && echo gate open || echo gate closed" });
        Assert.Equal(0, code);
        Assert.Equal("ran\ngate closed\n", output); // the command never holds the gate
    }

    [Fact]
    public void NothingRunsWhenTheGateClosesWithoutTheWord()
    {
        var marker = Path.Combine(Path.GetTempPath(), "gate-" + Guid.NewGuid().ToString("N"));
        foreach (var writer in new Action<int>[] { _ => { }, fd => Sys.WriteAll(fd, "0"u8) })
        {
            var (code, output, err) = Gated(writer, _ => new[] { "/bin/sh", "-c", "touch " + marker });
            Assert.Equal(1, code);
            Assert.Equal("", output);
            Assert.Contains("called off", err);
            Assert.False(File.Exists(marker));
        }
    }

    [Fact]
    public void AGateWithoutADescriptorOrACommandIsRefused()
    {
        TestEnvironment.UseStagedCli();
        var helper = GuestRuntime.CompanionProgram(OciRuntime.NamespaceHelper)!;
        foreach (var args in new[] { new[] { "gate", "x", "/bin/true" }, new[] { "gate", "2", "/bin/true" }, new[] { "gate", "5" } })
        {
            var r = HostProcess.Run(helper, args);
            Assert.Equal(2, r.ExitCode);
            Assert.Contains("usage", r.StandardError);
        }
    }
}
