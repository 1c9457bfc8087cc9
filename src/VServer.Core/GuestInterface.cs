namespace VServer;

/// <summary>One network interface of a running guest, as <c>Get-VServerNetwork</c> shows it (type name <c>VServer.GuestInterface</c>).</summary>
public sealed class GuestInterface
{
    public string Guest { get; internal init; } = "";

    /// <summary>The interface's name inside the guest (eth0).</summary>
    public string Name { get; internal init; } = "";

    /// <summary>The host side: the veth's host end (Bridge), the ipvlan's host device (IPvlan); null for loopback.</summary>
    public string? HostName { get; internal init; }

    public NetworkMode Mode { get; internal init; }

    /// <summary>Addresses with their prefix, as the guest's kernel has them (link-local ones included).</summary>
    public string[] Addresses { get; internal init; } = Array.Empty<string>();

    public string? MacAddress { get; internal init; }

    /// <summary>The kernel's operational state (UP, DOWN, UNKNOWN for loopback).</summary>
    public string State { get; internal init; } = "";

    public long RxBytes { get; internal init; }
    public long TxBytes { get; internal init; }
    public long RxPackets { get; internal init; }
    public long TxPackets { get; internal init; }

    /// <summary>Host ports forwarded to this interface's address while the guest runs (hostaddress:hostport:guestport/protocol).</summary>
    public string[] Published { get; internal init; } = Array.Empty<string>();

    /// <summary>The network namespace it lives in (for <c>ip netns exec</c>).</summary>
    public string? Namespace { get; internal init; }
}
