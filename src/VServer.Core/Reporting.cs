namespace VServer;

/// <summary>How Core reports progress, warnings and detail without knowing about PowerShell.</summary>
public interface IOperationReporter
{
    void Progress(string activity, string status, int percent);
    void Warning(string message);
    void Verbose(string message);
}

public sealed class NullReporter : IOperationReporter
{
    public static readonly NullReporter Instance = new();
    public void Progress(string activity, string status, int percent) { }
    public void Warning(string message) { }
    public void Verbose(string message) { }
}
