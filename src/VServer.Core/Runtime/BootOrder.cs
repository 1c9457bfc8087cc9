namespace VServer.Runtime;

/// <summary>
/// The order of a marked start (util-vserver's <c>apps/init/mark</c> and <c>apps/init/depends</c>):
/// the marked guests and, before them, every guest they depend on (marked or not), in levels —
/// a guest's level comes after all of its dependencies' levels, and the guests of one level start
/// in parallel. A guest in a dependency cycle, or that depends on one, or on a guest that does not
/// exist, is left out with the reason; the others still start.
/// </summary>
public sealed class BootOrder
{
    private BootOrder(IReadOnlyList<IReadOnlyList<string>> levels, IReadOnlyDictionary<string, string> refused)
    {
        Levels = levels;
        Refused = refused;
    }

    /// <summary>The guests to start, level by level.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Levels { get; }

    /// <summary>Guests that are not started, with why (a cycle, named; a missing dependency).</summary>
    public IReadOnlyDictionary<string, string> Refused { get; }

    /// <summary>
    /// The plan for the guests of <paramref name="store"/> whose <c>apps/init/mark</c> is
    /// <paramref name="mark"/>: their dependencies read from each guest's <c>apps/init/depends</c>;
    /// a guest whose configuration does not read is passed to <paramref name="unreadable"/> and left out.
    /// </summary>
    public static BootOrder ForMark(Storage.GuestStore store, string mark, Action<string, Exception> unreadable)
    {
        var marked = new List<string>();
        foreach (var n in store.ListNames())
        {
            try
            {
                if (store.ReadConfig(n).Mark == mark)
                {
                    marked.Add(n);
                }
            }
            catch (Exception e) when (e is VServerException or IOException or UnauthorizedAccessException)
            {
                unreadable(n, e);
            }
        }
        return Plan(marked, n =>
        {
            try
            {
                return store.Exists(n) ? store.ReadConfig(n).Depends : null;
            }
            catch (VServerException)
            {
                return null; // unreadable: named when it is started by name
            }
        });
    }

    /// <summary>The first of <paramref name="guest"/>'s dependencies that did not start, or null.</summary>
    public static string? FailedDependency(Storage.GuestStore store, string guest, Func<string, bool> failed) =>
        store.ReadConfig(guest).Depends.FirstOrDefault(failed);

    /// <param name="marked">The guests whose mark was asked for.</param>
    /// <param name="dependsOf">A guest's dependencies; null for a guest that does not exist.</param>
    public static BootOrder Plan(IEnumerable<string> marked, Func<string, IReadOnlyList<string>?> dependsOf)
    {
        var level = new Dictionary<string, int>(StringComparer.Ordinal);
        var refused = new Dictionary<string, string>(StringComparer.Ordinal);
        var onPath = new List<string>();

        // depth-first: a guest's level is one more than its deepest dependency's
        int? Visit(string guest)
        {
            if (level.TryGetValue(guest, out var known))
            {
                return known;
            }
            if (refused.ContainsKey(guest))
            {
                return null;
            }
            var at = onPath.IndexOf(guest);
            if (at >= 0)
            {
                var cycle = string.Join(" -> ", onPath.Skip(at).Append(guest));
                foreach (var g in onPath.Skip(at))
                {
                    refused[g] = $"its apps/init/depends form a cycle: {cycle}";
                }
                return null;
            }
            var deps = dependsOf(guest);
            if (deps is null)
            {
                refused[guest] = "no such guest";
                return null;
            }
            onPath.Add(guest);
            var mine = 0;
            foreach (var d in deps)
            {
                if (d == guest)
                {
                    refused[guest] = $"its apps/init/depends names itself: {guest} -> {guest}";
                    break;
                }
                var dl = Visit(d);
                if (dl is null)
                {
                    // a guest of the cycle is already refused with it; another one says which dependency failed
                    refused.TryAdd(guest, $"it depends on '{d}', which is not started ({refused.GetValueOrDefault(d, "no such guest")})");
                    break;
                }
                mine = Math.Max(mine, dl.Value + 1);
            }
            onPath.RemoveAt(onPath.Count - 1);
            if (refused.ContainsKey(guest))
            {
                return null;
            }
            level[guest] = mine;
            return mine;
        }

        foreach (var g in marked.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            Visit(g);
        }
        var levels = level.GroupBy(kv => kv.Value).OrderBy(grp => grp.Key)
            .Select(grp => (IReadOnlyList<string>)grp.Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList()).ToList();
        return new BootOrder(levels, refused);
    }
}
