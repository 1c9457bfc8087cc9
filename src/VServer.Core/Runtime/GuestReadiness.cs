using System.Diagnostics;

namespace VServer.Runtime;

/// <summary>
/// Whether a guest is up as its own init says (Wait-VServerGuest): systemd's <c>is-system-running</c>
/// (running or degraded), sysvinit's <c>runlevel</c> (a runlevel entered); an init that reports
/// nothing (busybox init, a Sysv or Command guest) is up while it runs. The question runs inside the
/// guest, as its root, bounded in time and in what is read back: the answer is the guest's word,
/// taken as data, and a guest that never answers only makes the wait time out.
/// </summary>
public static class GuestReadiness
{
    /// <summary>How long one question to the guest's init may take.</summary>
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    /// <summary>How often a wait asks.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>One look: whether the guest is up, and what was seen (for a timeout's message).</summary>
    public static (bool Up, string Seen) Probe(GuestRuntime runtime, string name, CancellationToken cancel = default)
    {
        var state = runtime.Run(name).ReadState();
        if (state is not { InitAlive: true })
        {
            return (false, "the guest is stopped");
        }
        switch (state.InitKind)
        {
            case InitKind.Systemd:
            {
                var said = Ask(runtime, name, new[] { "systemctl", "is-system-running" }, cancel);
                return (said is "running" or "degraded", $"systemd reports '{said}'");
            }
            case InitKind.Other:
            {
                // sysvinit's utmp record: "N 2" once runlevel 2 is entered, "unknown" before
                var said = Ask(runtime, name, new[] { "runlevel" }, cancel);
                var parts = said.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var up = parts.Length == 2 && parts[1].Length == 1 && parts[1][0] is >= '1' and <= '5';
                return (up, $"runlevel reports '{said}'");
            }
            default:
                return (true, "its init runs (it reports no boot state)");
        }
    }

    /// <summary>
    /// Waits until the guest is <paramref name="want"/> (Running: up as its init says; Stopped: no
    /// init left). Returns what was seen last; throws WaitTimeout, naming it, when
    /// <paramref name="timeout"/> passes first (null: no limit), and OperationCanceledException on cancel.
    /// </summary>
    public static string Wait(GuestRuntime runtime, string name, GuestState want, TimeSpan? timeout, CancellationToken cancel = default, Action<string>? onSeen = null)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            cancel.ThrowIfCancellationRequested();
            string seen;
            if (want == GuestState.Stopped)
            {
                var status = runtime.Status(name);
                if (status.State == GuestState.Stopped)
                {
                    return "the guest is stopped";
                }
                seen = $"the guest runs ({status.ProcessCount} processes)";
            }
            else
            {
                using var probe = CancellationTokenSource.CreateLinkedTokenSource(cancel);
                // one question takes what is left of the wait, at least a second (a wait of 0 looks once), at most ProbeTimeout
                var left = timeout is TimeSpan t ? t - sw.Elapsed : ProbeTimeout;
                probe.CancelAfter(TimeSpan.FromTicks(Math.Clamp(left.Ticks, TimeSpan.TicksPerSecond, ProbeTimeout.Ticks)));
                bool up;
                (up, seen) = Probe(runtime, name, probe.Token);
                if (up)
                {
                    return seen;
                }
            }
            onSeen?.Invoke(seen);
            if (timeout is TimeSpan limit && sw.Elapsed >= limit)
            {
                throw new VServerException("WaitTimeout", ErrorKind.OperationTimeout,
                    $"Guest '{name}' was not {(want == GuestState.Running ? "up" : "stopped")} within {limit.TotalSeconds:0.#} s: {seen}.", name);
            }
            cancel.WaitHandle.WaitOne(PollInterval);
        }
    }

    /// <summary>The first line the command prints inside the guest (on its error output when none on its output), cut to 100 visible characters; "no answer" when it prints nothing in time.</summary>
    private static string Ask(GuestRuntime runtime, string name, string[] command, CancellationToken cancel)
    {
        string? first = null, error = null;
        try
        {
            runtime.Exec(name, new ExecRequest(command), line => first ??= line, line => error ??= line, cancel, outputLimit: 4096);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested || first is not null)
        {
        }
        catch (OperationCanceledException)
        {
            return "no answer";
        }
        catch (VServerException e)
        {
            return "no answer: " + e.Message;
        }
        // nothing on its output: what it said on its error (systemctl before the bus is up), else nothing
        var text = VisibleText.Of((string.IsNullOrWhiteSpace(first) ? error : first)?.Trim() ?? "");
        return text.Length == 0 ? "no answer" : text.Length > 100 ? text[..100] + "…" : text;
    }
}
