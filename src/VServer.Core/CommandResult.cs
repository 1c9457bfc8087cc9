namespace VServer;

/// <summary>The result of a command run in one guest (<c>Invoke-VServerCommand -AsResult</c>).</summary>
public sealed class CommandResult
{
    public CommandResult(string guestName, int exitCode, string[] output, string[] error, TimeSpan duration)
    {
        GuestName = guestName;
        ExitCode = exitCode;
        Output = output;
        Error = error;
        Duration = duration;
    }

    public string GuestName { get; }
    public int ExitCode { get; }
    public string[] Output { get; }
    public string[] Error { get; }
    public TimeSpan Duration { get; }
}

