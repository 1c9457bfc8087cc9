using VServer.Storage;
using VServer.Tests.Shared;
using Xunit;

namespace VServer.Tests;

/// <summary>Invoke-VServerUnify, Get-VServerDiskUsage and the Clone method as a user types them, on loop filesystems (root).</summary>
public class StorageCmdletTests
{
    private static long Shared(PowerShellSession s, string guest) => (long)s.Invoke($"(Get-VServerDiskUsage {guest}).SharedBytes")[0].BaseObject;

    [LoopFsFact]
    public void UnifyWhatIfThenForRealShowsInDiskUsage()
    {
        using var fs = LoopFileSystem.Xfs();
        using var s = new PowerShellSession(fs.Paths);
        s.Invoke("New-VServerGuest web1 -Method Busybox | Out-Null; New-VServerGuest web2 -Method Busybox | Out-Null");
        Assert.Empty(s.Errors);
        Assert.Equal((0L, 0L), (Shared(s, "web1"), Shared(s, "web2")));

        var text = s.Render("Get-VServerGuest | Invoke-VServerUnify -WhatIf");
        Assert.Contains("What if: Performing the operation \"Share identical files' extents\" on target \"web1, web2\".", text);
        Assert.Equal((0L, 0L), (Shared(s, "web1"), Shared(s, "web2")));

        var result = (UnifyResult)Assert.Single(s.Invoke("Invoke-VServerUnify web* -Detailed")).BaseObject;
        Assert.Empty(s.Errors);
        Assert.Equal(new[] { "web1", "web2" }, result.Guests);
        Assert.True(result.BytesDeduplicated > 0 && result.FilesDeduplicated > 0);
        Assert.Equal(2, result.Details!.Length);
        Assert.True(Shared(s, "web2") >= result.BytesDeduplicated - 4096);
        Assert.Null(((UnifyResult)s.Invoke("Invoke-VServerUnify")[0].BaseObject).Details);

        var table = s.Render("Get-VServerDiskUsage");
        Assert.Matches(@"Name +Files +Total +Shared +Exclusive", table);
        Assert.Matches(@"web2 +\d+ +[\d.]+[KMG] +[\d.]+[KMG] +[\d.]+[KMG]?", table);

        var warning = s.Invoke("Invoke-VServerUnify web1 -WarningVariable w -WarningAction SilentlyContinue; $w.Message");
        Assert.Equal("Only one guest ('web1'): there is nothing to share its files with.", Assert.Single(warning).BaseObject);
        s.Invoke("Invoke-VServerUnify web* -Exclude ''");
        Assert.Contains(s.Errors, e => e.FullyQualifiedErrorId.StartsWith("ParameterArgumentValidation", StringComparison.Ordinal) || e.FullyQualifiedErrorId.StartsWith("InvalidExclude", StringComparison.Ordinal));
        s.Invoke("Invoke-VServerUnify web* -Reference nosuch");
        Assert.Equal("GuestNotFound", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
    }

    [LoopFsFact]
    public void OnABtrfsStoreGuestsAreSubvolumesAndACloneIsASnapshot()
    {
        using var fs = LoopFileSystem.Btrfs();
        using var s = new PowerShellSession(fs.Paths);
        s.Invoke("New-VServerGuest web1 -Method Busybox -DiskLimit 64MB | Out-Null; New-VServerGuest web2 -Method Clone -Source web1 | Out-Null");
        Assert.Empty(s.Errors);
        Assert.Equal(new object[] { "web1:Btrfs:67108864", "web2:Btrfs:" }, s.Invoke("Get-VServerGuest | ForEach-Object { \"$($_.Name):$($_.Storage):$($_.DiskLimit)\" }").Select(o => o.BaseObject));
        Assert.Equal(64L << 20, (long)s.Invoke("(Get-VServerDiskUsage web1).Limit")[0].BaseObject);
        Assert.True((long)s.Invoke("(Get-VServerDiskUsage web1).QuotaReferencedBytes")[0].BaseObject > 0);
        s.Invoke("Set-VServerGuest web1 -DiskLimit 128MB; Set-VServerGuest web2 -DiskLimit 32MB");
        Assert.Empty(s.Errors);
        Assert.Equal(new object[] { 128L << 20, 32L << 20 }, s.Invoke("(Get-VServerDiskUsage web1, web2).Limit").Select(o => o.BaseObject));
        s.Invoke("Set-VServerGuest web2 -Clear DiskLimit");
        Assert.Null(s.Invoke("(Get-VServerGuest web2).DiskLimit")[0]?.BaseObject);
        Assert.Matches(@"Btrfs: .* each new guest's root is a subvolume", (string)s.Invoke("(Test-VServerHost 'guest store').Detail")[0].BaseObject);
        // the snapshot shares the source's files from birth
        var usage = (DiskUsage)s.Invoke("Get-VServerDiskUsage web2")[0].BaseObject;
        Assert.True(usage.SharedBytes >= usage.TotalBytes * 9 / 10, $"shared {usage.SharedBytes} of {usage.TotalBytes}");
        s.Invoke("Remove-VServerGuest web1, web2 -Confirm:$false");
        Assert.Empty(s.Errors);
        Assert.Empty(Directory.GetFileSystemEntries(fs.Paths.VdirRoot));
    }

    [LoopFsFact]
    public void SnapshotsAsTypedOnAnXfsStore()
    {
        using var fs = LoopFileSystem.Xfs();
        using var s = new PowerShellSession(fs.Paths);
        s.Invoke("New-VServerGuest web1 -Method Busybox | Out-Null; New-VServerGuest web2 -Method Busybox | Out-Null");
        var taken = s.Invoke("Get-VServerGuest web* | Checkpoint-VServerGuest");
        Assert.Empty(s.Errors);
        Assert.Equal(new[] { "web1/snap0/Reflink", "web2/snap0/Reflink" }, taken.Select(o => (Snapshot)o.BaseObject).Select(x => $"{x.GuestName}/{x.Name}/{x.Storage}"));
        var text = s.Render("Checkpoint-VServerGuest web1 -WhatIf");
        Assert.Contains("What if: Performing the operation \"Take snapshot 'snap1' (Reflink) of the root and configuration\" on target \"web1\".", text);
        Assert.Single(s.Invoke("Get-VServerSnapshot web1"));

        // a file written after the snapshot is gone after the restore; the new guest's files share extents
        File.WriteAllText(Path.Combine(fs.Paths.VdirRoot, "web1", "after"), "later");
        s.Invoke("Get-VServerSnapshot web1 snap0 | Restore-VServerGuest -Confirm:$false");
        Assert.Empty(s.Errors);
        Assert.False(File.Exists(Path.Combine(fs.Paths.VdirRoot, "web1", "after")));
        var snap = (Snapshot)s.Invoke("Get-VServerSnapshot web1 snap0")[0].BaseObject;
        Assert.True(snap.ExclusiveBytes < snap.TotalBytes / 2, $"{snap.ExclusiveBytes} of {snap.TotalBytes} bytes are the snapshot's own");

        s.Invoke("New-VServerGuest web3 -Method Clone -Source web1 -SnapshotName snap0 | Out-Null");
        Assert.Empty(s.Errors);
        s.Invoke("Get-VServerSnapshot web1 nosuch");
        Assert.Equal("SnapshotNotFound", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Invoke("Remove-VServerGuest web1 -Confirm:$false");
        Assert.Equal("GuestHasSnapshots", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Invoke("Get-VServerSnapshot | Remove-VServerSnapshot -Confirm:$false; Remove-VServerGuest web1, web2, web3 -Confirm:$false");
        Assert.Empty(s.Errors);
        Assert.Empty(s.Invoke("Get-VServerSnapshot"));
    }

    [LoopFsFact]
    public void UnifyOnExt4IsRefusedByName()
    {
        using var fs = LoopFileSystem.Ext4();
        using var s = new PowerShellSession(fs.Paths);
        s.Invoke("New-VServerGuest a -Method Busybox | Out-Null; New-VServerGuest b -Method Busybox | Out-Null");
        Assert.Empty(s.Invoke("Invoke-VServerUnify"));
        var e = Assert.Single(s.Errors);
        Assert.Equal("ReflinkNotSupported", e.FullyQualifiedErrorId.Split(',')[0]);
        Assert.Equal(System.Management.Automation.ErrorCategory.InvalidOperation, e.CategoryInfo.Category);
        Assert.Contains("ext4", e.Exception.Message);
        Assert.Equal("a", e.TargetObject);

        // a disk limit is refused where the root cannot be a btrfs subvolume, naming the filesystem
        s.Invoke("New-VServerGuest c -Method Busybox -DiskLimit 64MB");
        e = Assert.Single(s.Errors);
        Assert.Equal("DiskLimitNotSupported", e.FullyQualifiedErrorId.Split(',')[0]);
        Assert.Contains("ext4", e.Exception.Message);
        Assert.False(Directory.Exists(fs.Paths.ConfigDir("c")));
        s.Invoke("Set-VServerGuest a -DiskLimit 64MB");
        Assert.Equal("DiskLimitNotSupported", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
    }

    [LoopFsFact]
    public void CloneAGuestByNameAndRefuseBadSources()
    {
        using var fs = LoopFileSystem.Xfs();
        using var s = new PowerShellSession(fs.Paths);
        s.Invoke("New-VServerGuest base -Method Busybox -InitStyle Plain | Out-Null");
        var clone = Assert.Single(s.Invoke("New-VServerGuest copy -Method Clone -Source base -Hostname copy.example"));
        Assert.Empty(s.Errors);
        Assert.Equal("Plain", clone.Properties["InitStyle"].Value.ToString()); // the source guest's init style
        Assert.Equal("copy.example", clone.Properties["Hostname"].Value);
        Assert.True(Shared(s, "copy") > 0);

        s.Invoke("New-VServerGuest x -Method Clone");
        Assert.Equal("SourceRequired", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Invoke("New-VServerGuest x -Method Clone -Source nosuch");
        Assert.Equal("SourceNotFound", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Invoke("New-VServerGuest x -Method Busybox -Source base");
        Assert.Equal("SourceNotUsed", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        s.Invoke("New-VServerGuest x -Method Template -Source /no/such/dir");
        Assert.Equal("TemplateNotFound", Assert.Single(s.Errors).FullyQualifiedErrorId.Split(',')[0]);
        Assert.Equal(2, s.Invoke("Get-VServerGuest").Count);
        Assert.False(Directory.Exists(Path.Combine(fs.Paths.VdirRoot, "x")));

        var t = Assert.Single(s.Invoke($"New-VServerGuest tpl -Method Template -Source '{Path.Combine(fs.Paths.VdirRoot, "base")}' -InitStyle Plain"));
        Assert.Empty(s.Errors);
        Assert.True(Directory.Exists(Path.Combine(fs.Paths.VdirRoot, "tpl.layers", "upper")));
        s.Invoke("Remove-VServerGuest tpl -Confirm:$false");
        Assert.Empty(s.Errors);
        Assert.False(Directory.Exists(Path.Combine(fs.Paths.VdirRoot, "tpl.layers")));
    }

    [RootFact]
    public void ArchiveBuildsFromATarballAndRefusesAHostileOne()
    {
        using var s = new PowerShellSession();
        s.Invoke("New-VServerGuest base -Method Busybox | Out-Null");
        var archive = Path.Combine(s.Roots.Base, "base.tar.gz");
        var r = VServer.Runtime.HostProcess.Run("/usr/bin/tar", new[] { "--create", "--gzip", "--file=" + archive, "--numeric-owner", "-C", Path.Combine(s.Paths.VdirRoot, "base"), "." });
        Assert.True(r.ExitCode == 0, r.StandardError);
        var g = Assert.Single(s.Invoke($"New-VServerGuest restored -Method Archive -Source '{archive}' -Hostname restored.example"));
        Assert.Empty(s.Errors);
        Assert.Equal("restored.example", g.Properties["Hostname"].Value);
        Assert.True(File.Exists(Path.Combine(s.Paths.VdirRoot, "restored", "bin", "busybox")));
        Assert.Equal("restored.example\n", File.ReadAllText(Path.Combine(s.Paths.VdirRoot, "restored", "etc", "hostname")));

        var evil = Path.Combine(s.Roots.Base, "evil.tar");
        using (var f = File.Create(evil))
        using (var w = new System.Formats.Tar.TarWriter(f))
        {
            w.WriteEntry(new System.Formats.Tar.PaxTarEntry(System.Formats.Tar.TarEntryType.RegularFile, "../evil") { DataStream = new MemoryStream(new byte[] { 1 }) });
        }
        var before = s.Roots.Snapshot();
        s.Invoke($"New-VServerGuest evil -Method Archive -Source '{evil}'");
        var e = Assert.Single(s.Errors);
        Assert.Equal("ArchiveMemberRefused", e.FullyQualifiedErrorId.Split(',')[0]);
        Assert.Equal("../evil", e.TargetObject);
        Assert.Equal(before, s.Roots.Snapshot());
    }
}
