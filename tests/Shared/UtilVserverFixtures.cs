using System.Text;

namespace VServer.Tests.Shared;

/// <summary>Files as util-vserver and its stable branch wrote them (the seeds), and a manifest to prove a directory unchanged.</summary>
public static class UtilVserverFixtures
{
    public const string Artemis = """
        S_CONTEXT=1000
        IPROOT=62.24.85.244
        IPROOTMASK=255.255.255.0
        IPROOTBCAST=62.24.85.255
        IPROOTDEV=eth0
        ONBOOT=yes
        S_HOSTNAME=artemis
        S_DOMAINNAME=example.com
        S_NICE=
        S_FLAGS="lock nproc"
        ULIMIT=""
        S_CAPS="CAP_NET_RAW CAP_SYS_ADMIN"
        S_START="/sbin/rc default"
        S_STOP="/sbin/rc shutdown"
        """;

    public const string Marvin = """
        IPROOT=147.162.35.1
        IPROOTMASK=255.255.255.0
        IPROOTBCAST=147.162.35.255
        IPROOTDEV=eth0
        ONBOOT=no
        S_HOSTNAME=marvin.stat.unipd.it
        S_DOMAINNAME=
        S_NICE=
        # You can set various flags for the new security context
        # lock: Prevent the vserver from setting new security context
        # nproc: Limit the number of processes in the vserver according to ulimit
        #      (instead of a per user limit, this becomes a per vserver limit)
        S_FLAGS="lock nproc"
        ULIMIT="-H -u 1000"
        # You can set various capabilities. By default, the vserver are run
        # with a limited set, so you can let root run in a vserver and not
        # worry about it. He can't take over the machine. In some cases
        # you can to give a little more capabilities (such as CAP_NET_RAW)
        S_CAPS="CAP_NET_RAW"
        """;

    public const string Ftp = """
                  IPROOT="192.168.5.32 192.168.5.64"
                  IPROOTDEV=eth0
                  S_HOSTNAME=ftp.nowhe.re
                  ONBOOT=yes
                  S_DOMAINNAME=
                  S_NICE=5
                  S_FLAGS="lock nproc fakeinit"
                  ULIMIT="-HS -u 200"
                  S_CAPS=""
        """;

    public const string Profiles = """
        #!/bin/sh
        if [ "" = "" ]; then
            PROFILE=prod
        fi
        case $PROFILE in
        prod)
            IROOTDEV="eth0"
            S_HOSTNAME="db"
        ;;
        esac
        ONBOOT=yes
        S_FLAGS="lock nproc"
        """;

    /// <summary>Every path below a directory with its link target or its content: what "identical" means here.</summary>
    public static string Manifest(string dir)
    {
        var sb = new StringBuilder();
        void Walk(string d)
        {
            foreach (var e in new DirectoryInfo(d).EnumerateFileSystemInfos().OrderBy(e => e.Name, StringComparer.Ordinal))
            {
                var rel = Path.GetRelativePath(dir, e.FullName);
                if (e.LinkTarget is string t)
                {
                    sb.Append(rel).Append(" -> ").Append(t).Append('\n'); // a link is listed, never followed
                }
                else if (e is DirectoryInfo)
                {
                    sb.Append(rel).Append("/ ").Append(File.GetUnixFileMode(e.FullName)).Append('\n');
                    Walk(e.FullName);
                }
                else
                {
                    sb.Append(rel).Append(" [").Append(File.ReadAllText(e.FullName).Replace("\n", "\\n", StringComparison.Ordinal)).Append("] ")
                      .Append(File.GetUnixFileMode(e.FullName)).Append('\n');
                }
            }
        }
        Walk(dir);
        return sb.ToString();
    }

}
