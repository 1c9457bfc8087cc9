using System.Management.Automation;

namespace VServer.Commands;

/// <summary>The one place a VServer failure becomes an ErrorRecord.</summary>
internal static class ErrorMapping
{
    public static ErrorCategory Category(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        ErrorKind.InvalidData => ErrorCategory.InvalidData,
        ErrorKind.ObjectNotFound => ErrorCategory.ObjectNotFound,
        ErrorKind.ResourceExists => ErrorCategory.ResourceExists,
        ErrorKind.ResourceUnavailable => ErrorCategory.ResourceUnavailable,
        ErrorKind.PermissionDenied => ErrorCategory.PermissionDenied,
        ErrorKind.InvalidOperation => ErrorCategory.InvalidOperation,
        ErrorKind.NotInstalled => ErrorCategory.NotInstalled,
        ErrorKind.OperationStopped => ErrorCategory.OperationStopped,
        ErrorKind.LimitsExceeded => ErrorCategory.LimitsExceeded,
        ErrorKind.WriteError => ErrorCategory.WriteError,
        ErrorKind.OperationTimeout => ErrorCategory.OperationTimeout,
        _ => ErrorCategory.NotSpecified,
    };

    /// <summary>The target is the offending value when Core names one, else the guest the work was for.</summary>
    public static ErrorRecord ToRecord(VServerException e, object? fallbackTarget) =>
        new(e, e.ErrorId, Category(e.Kind), e.Target ?? fallbackTarget);
}
