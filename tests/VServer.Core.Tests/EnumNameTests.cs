using VServer.Config;
using VServer.Runtime;
using Xunit;

namespace VServer.Tests;

/// <summary>
/// Enum names spelled out where the native vserver command would otherwise build reflection data
/// (netmode's parse, the applied settings' names): every member is covered, as Enum gives it.
/// </summary>
public sealed class EnumNameTests
{
    [Fact]
    public void EveryNetworkModeIsReadFromItsNameInAnyCaseAndNothingElse()
    {
        foreach (var mode in Enum.GetValues<VServer.NetworkMode>())
        {
            Assert.Equal(mode, VServer.Storage.ConfigDirectory.ParseNetworkMode(mode.ToString().ToLowerInvariant()));
            Assert.Equal(mode, VServer.Storage.ConfigDirectory.ParseNetworkMode(mode.ToString().ToUpperInvariant()));
            Assert.Equal(mode.ToString(), LiveSettings.Name(mode));
        }
        foreach (var word in new[] { "0", "1", "tunnel", " bridge", "" })
        {
            Assert.Null(VServer.Storage.ConfigDirectory.ParseNetworkMode(word));
        }
        Assert.Equal("7", LiveSettings.Name((VServer.NetworkMode)7));
    }

    [Fact]
    public void EveryInitStyleIsNamedAsEnumNamesIt()
    {
        foreach (var style in Enum.GetValues<InitStyle>())
        {
            Assert.Equal(style.ToString(), LiveSettings.Name(style));
        }
        Assert.Equal("9", LiveSettings.Name((InitStyle)9));
    }
}
