namespace VServer;

public enum CheckStatus
{
    Pass,
    Warn,
    Fail,
}

/// <summary>One check of <c>Test-VServerHost</c> (util-vserver's testme.sh); type name <c>VServer.HostCheck</c>.</summary>
public sealed class HostCheck
{
    public HostCheck(string check, CheckStatus status, string detail)
    {
        Check = check;
        Status = status;
        Detail = detail;
    }

    public string Check { get; }
    public CheckStatus Status { get; }
    public string Detail { get; }

    public override string ToString() => $"{Check}: {Status} ({Detail})";
}
