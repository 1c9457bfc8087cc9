using VServer.BuildTool;

// vserver-build stage --manifest VServer.psd1 --docs docs/en-US --out output/VServer
// Writes the staged manifest, en-US/VServer.dll-Help.xml (MAML from the platyPS markdown) and
// en-US/about_*.help.txt. The markdown in docs/ is the source; the MAML is never committed.
if (args.Length == 0 || args[0] != "stage")
{
    Console.Error.WriteLine("usage: VServer.Build stage --manifest <psd1> --docs <dir> --out <dir>");
    return 2;
}
string Arg(string name)
{
    var i = Array.IndexOf(args, name);
    if (i < 0 || i + 1 >= args.Length)
    {
        throw new ArgumentException($"missing {name}");
    }
    return args[i + 1];
}
try
{
    var manifest = Arg("--manifest");
    var docs = Arg("--docs");
    var output = Arg("--out");
    Stager.Stage(manifest, docs, output);
    Console.WriteLine($"Staged module in {Path.GetFullPath(output)}");
    return 0;
}
catch (Exception e) when (e is HelpFormatException or IOException or ArgumentException)
{
    Console.Error.WriteLine("error: " + e.Message);
    return 1;
}
