using System.Globalization;

namespace VServer;

/// <summary>
/// A guest's private users: host uids and gids <see cref="First"/> … <see cref="First"/>+<see cref="Count"/>-1,
/// which are uid and gid 0 … Count-1 inside its user namespace. Stored in the configuration
/// directory's <c>private-users</c> as one line in <c>/proc/PID/uid_map</c>'s form: <c>0 FIRST COUNT</c>.
/// </summary>
public sealed record IdRange(long First, long Count)
{
    /// <summary>The size of every range VServer hands out: a whole 16-bit id space (nobody is 65534).</summary>
    public const long Size = 65536;

    /// <summary>Where VServer's ranges start and end on the host: far above any host account, below 2^31 (signed uid_t users).</summary>
    public const long PoolStart = 1_000_000_000, PoolEnd = 2_147_418_112;

    /// <summary>Asked for, not yet handed out (a Set or New that turns private users on; the store allocates it under its lock).</summary>
    public static readonly IdRange Pending = new(0, 0);

    public bool IsPending => Count == 0;

    public long Last => First + Count - 1;

    public bool Overlaps(IdRange other) => First <= other.Last && other.First <= Last;

    /// <summary>The line of the <c>private-users</c> file (and of a uid_map).</summary>
    public string ToMapLine() => "0 " + First.ToString(CultureInfo.InvariantCulture) + " " + Count.ToString(CultureInfo.InvariantCulture);

    public override string ToString() => IsPending ? "(pending)" : First.ToString(CultureInfo.InvariantCulture) + "-" + Last.ToString(CultureInfo.InvariantCulture);

    /// <summary>Reads <c>0 FIRST COUNT</c>; null when it is not that (inside id 0, a first host id above 0, at most 2^32-1 in all).</summary>
    public static IdRange? ParseMapLine(string text)
    {
        var parts = text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 3 || parts[0] != "0"
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var first)
            || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var count)
            || first < 1 || count < 1 || first + count > uint.MaxValue)
        {
            return null;
        }
        return new IdRange(first, count);
    }

    /// <summary>
    /// The first free <see cref="Size"/> range of the pool, aligned on <see cref="Size"/>, that meets
    /// none of <paramref name="used"/> (ranges written by hand may be anywhere).
    /// </summary>
    public static IdRange NextFree(IEnumerable<IdRange> used)
    {
        var taken = used.Where(u => !u.IsPending).OrderBy(u => u.First).ToList();
        for (var first = PoolStart; first + Size <= PoolEnd; first += Size)
        {
            var candidate = new IdRange(first, Size);
            var clash = taken.FirstOrDefault(candidate.Overlaps);
            if (clash is null)
            {
                return candidate;
            }
            first = Math.Max(first, (clash.Last + 1 - PoolStart + Size - 1) / Size * Size + PoolStart - Size); // past the clash
        }
        throw new VServerException("UserRangeExhausted", ErrorKind.LimitsExceeded,
            $"Every range of {Size} host uids from {PoolStart} to {PoolEnd - 1} is held by a guest; none is left for private users.", null);
    }
}
