namespace VServer;

/// <summary>
/// One line a guest's init and its console wrote (Get-VServerLog; type name <c>VServer.LogEntry</c>):
/// when conmon recorded it (null for a line that was no record), its stream (stdout or stderr) and
/// the text, with control characters made visible.
/// </summary>
public sealed record LogEntry(string Name, DateTimeOffset? TimeStamp, string Stream, string Message)
{
    public override string ToString() => Message;
}
