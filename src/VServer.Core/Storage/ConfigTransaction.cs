namespace VServer.Storage;

/// <summary>
/// An all-or-nothing change to a configuration directory: every new file is staged beside its
/// target first (a failure there changes nothing), then the staged files are renamed into place
/// and the removed files deleted, each target's former state kept in memory; a failure at any
/// step puts every touched path back as it was. Only the paths named are touched.
/// </summary>
internal sealed class ConfigTransaction
{
    private abstract record Op(string Path);
    private sealed record WriteOp(string Path, string Content) : Op(Path);
    private sealed record DeleteOp(string Path) : Op(Path);
    private sealed record LinkOp(string Path, string Target) : Op(Path);

    /// <summary>What a path was before this change: a file's bytes and mode, a symlink's target, or nothing.</summary>
    private sealed record Former(string Path, byte[]? Bytes, UnixFileMode Mode, string? LinkTarget);

    private readonly List<Op> _ops = new();

    public bool IsEmpty => _ops.Count == 0;

    public void Write(string path, string content) => _ops.Add(new WriteOp(path, content));

    public void Delete(string path) => _ops.Add(new DeleteOp(path));

    public void Link(string path, string target) => _ops.Add(new LinkOp(path, target));

    /// <summary>A file to hold <paramref name="content"/>: written when it differs, deleted when the content is null and it exists, else left alone.</summary>
    public void Set(string path, string? content)
    {
        if (content is null)
        {
            if (File.Exists(path))
            {
                Delete(path);
            }
        }
        else if (!File.Exists(path) || File.ReadAllText(path) != content)
        {
            Write(path, content);
        }
    }

    public void Commit()
    {
        var staged = new Dictionary<Op, string>();
        var madeDirs = new List<string>();
        var formers = new List<Former>();
        var removedDirs = new List<string>();
        try
        {
            // stage: every new file and link beside its target
            foreach (var op in _ops)
            {
                if (op is DeleteOp)
                {
                    continue;
                }
                var dir = System.IO.Path.GetDirectoryName(op.Path)!;
                MakeDirs(dir, madeDirs);
                var tmp = System.IO.Path.Combine(dir, "." + System.IO.Path.GetFileName(op.Path) + ".vserver-" + Guid.NewGuid().ToString("N")[..8]);
                staged[op] = tmp;
                if (op is WriteOp w)
                {
                    using var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None);
                    var bytes = System.Text.Encoding.UTF8.GetBytes(w.Content);
                    fs.Write(bytes, 0, bytes.Length);
                    fs.Flush(flushToDisk: true);
                }
                else if (op is LinkOp l)
                {
                    File.CreateSymbolicLink(tmp, l.Target);
                }
            }
            // swap: each target's former state first, then the rename or delete
            var step = 0;
            foreach (var op in _ops)
            {
                if (TestSeams.FailConfigChangeAtStep == step++)
                {
                    throw new IOException($"test: a configuration change failed at step {step - 1} ({op.Path})");
                }
                formers.Add(Capture(op.Path));
                if (op is DeleteOp)
                {
                    if (File.Exists(op.Path) || new FileInfo(op.Path).LinkTarget is not null)
                    {
                        File.Delete(op.Path);
                    }
                    RemoveEmptyParents(System.IO.Path.GetDirectoryName(op.Path)!, removedDirs);
                    continue;
                }
                var tmp = staged[op];
                if (op is WriteOp && File.Exists(op.Path) && new FileInfo(op.Path).LinkTarget is null)
                {
                    File.SetUnixFileMode(tmp, File.GetUnixFileMode(op.Path)); // an administrator's mode stays
                }
                Native.Sys.Rename(tmp, op.Path);
                staged.Remove(op);
            }
        }
        catch
        {
            foreach (var tmp in staged.Values)
            {
                TryDelete(tmp);
            }
            foreach (var d in Enumerable.Reverse(removedDirs))
            {
                Directory.CreateDirectory(d);
            }
            foreach (var f in Enumerable.Reverse(formers))
            {
                Restore(f);
            }
            foreach (var d in Enumerable.Reverse(madeDirs))
            {
                if (Directory.Exists(d) && !Directory.EnumerateFileSystemEntries(d).Any())
                {
                    Directory.Delete(d);
                }
            }
            throw;
        }
    }

    private static Former Capture(string path)
    {
        var info = new FileInfo(path);
        if (info.LinkTarget is string target)
        {
            return new Former(path, null, 0, target);
        }
        return info.Exists ? new Former(path, File.ReadAllBytes(path), File.GetUnixFileMode(path), null) : new Former(path, null, 0, null);
    }

    private static void Restore(Former f)
    {
        TryDelete(f.Path);
        if (f.LinkTarget is string target)
        {
            File.CreateSymbolicLink(f.Path, target);
        }
        else if (f.Bytes is byte[] bytes)
        {
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(f.Path)!);
            File.WriteAllBytes(f.Path, bytes);
            File.SetUnixFileMode(f.Path, f.Mode);
        }
    }

    private static void MakeDirs(string dir, List<string> made)
    {
        var missing = new Stack<string>();
        for (var d = dir; !Directory.Exists(d); d = System.IO.Path.GetDirectoryName(d)!)
        {
            missing.Push(d);
        }
        while (missing.Count > 0)
        {
            var d = missing.Pop();
            Directory.CreateDirectory(d);
            made.Add(d);
        }
    }

    /// <summary>A directory the change emptied (an interface removed) goes too; only the one the deleted file was in.</summary>
    private static void RemoveEmptyParents(string dir, List<string> removed)
    {
        if (Directory.Exists(dir) && !Directory.EnumerateFileSystemEntries(dir).Any() && System.IO.Path.GetFileName(System.IO.Path.GetDirectoryName(dir)) == "interfaces")
        {
            Directory.Delete(dir);
            removed.Add(dir);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            if (File.Exists(path) || new FileInfo(path).LinkTarget is not null)
            {
                File.Delete(path);
            }
        }
        catch (IOException)
        {
        }
    }
}
