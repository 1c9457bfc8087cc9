namespace VServer;

/// <summary>
/// The categories a VServer failure can fall in. The module maps each one to the PowerShell
/// ErrorCategory of the same meaning (see ErrorMapping in the module); Core stays free of any
/// PowerShell dependency.
/// </summary>
public enum ErrorKind
{
    NotSpecified,
    InvalidArgument,
    InvalidData,
    ObjectNotFound,
    ResourceExists,
    ResourceUnavailable,
    PermissionDenied,
    InvalidOperation,
    NotInstalled,
    OperationStopped,
    LimitsExceeded,
    WriteError,
    OperationTimeout,
}

/// <summary>
/// A refusal or failure with a stable ErrorId, a category and the object it concerns.
/// </summary>
public class VServerException : Exception
{
    /// <param name="message">Made visible (<see cref="VisibleText"/>): it often quotes a value read from disk or from a guest.</param>
    public VServerException(string errorId, ErrorKind kind, string message, object? target = null, Exception? inner = null)
        : base(VisibleText.Of(message), inner)
    {
        ErrorId = errorId;
        Kind = kind;
        Target = target;
    }

    /// <summary>Stable identifier, e.g. <c>GuestNotFound</c> or <c>openat2,ELOOP</c>.</summary>
    public string ErrorId { get; }

    public ErrorKind Kind { get; }

    /// <summary>The value or object the error is about (a guest name, a bad value, a path).</summary>
    public object? Target { get; }
}
