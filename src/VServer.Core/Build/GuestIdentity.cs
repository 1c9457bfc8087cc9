using System.Security.Cryptography;
using VServer.Runtime;
using VServer.Storage;

namespace VServer.Build;

/// <summary>
/// What must differ between guests built from one tree (LXC's templates do the same): a machine-id
/// of its own, and SSH host keys of its own (clones of one tree otherwise share them). Keys are made
/// by the host's ssh-keygen in a private host directory and written into the root in-root (no
/// symlink in the guest's tree is followed).
/// </summary>
public static class GuestIdentity
{
    private static readonly string[] KeyTypes = { "rsa", "ecdsa", "ed25519" };

    public static void Renew(GuestRootFs root, IOperationReporter reporter)
    {
        if (root.LStat("etc") is not null)
        {
            root.WriteText("etc/machine-id", Convert.ToHexString(RandomNumberGenerator.GetBytes(16)).ToLowerInvariant() + "\n", 0x124 /*0444*/);
        }
        if (root.LStat("etc/ssh") is null)
        {
            return;
        }
        var keygen = HostProcess.Find("ssh-keygen");
        if (keygen is null)
        {
            reporter.Warning("ssh-keygen (Debian package openssh-client) is not installed: the guest keeps the SSH host keys of the tree it was made from.");
            return;
        }
        var dir = Directory.CreateTempSubdirectory("vserver-keys-");
        try
        {
            File.SetUnixFileMode(dir.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            foreach (var type in KeyTypes)
            {
                var file = Path.Combine(dir.FullName, "ssh_host_" + type + "_key");
                var r = HostProcess.Run(keygen, new[] { "-q", "-t", type, "-N", "", "-C", "", "-f", file });
                if (r.ExitCode != 0)
                {
                    throw new VServerException("KeygenFailed", ErrorKind.InvalidOperation, $"ssh-keygen -t {type} failed: {OciRuntime.FirstLine(r.StandardError, "no message")}", type);
                }
                root.WriteFile("etc/ssh/ssh_host_" + type + "_key", File.ReadAllBytes(file), 0x180 /*0600*/);
                root.WriteFile("etc/ssh/ssh_host_" + type + "_key.pub", File.ReadAllBytes(file + ".pub"), 0x1A4 /*0644*/);
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }
}
