using System.Management.Automation;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Runtime.Loader;

namespace VServer.Commands;

/// <summary>
/// Tmds.LibC ships one assembly per architecture (struct layouts differ). The module folder keeps
/// them under runtimes/linux-&lt;arch&gt;/; this resolver loads the one for this process when the
/// runtime asks for Tmds.LibC.
/// </summary>
public sealed class ModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    private static readonly string ModuleDir = Path.GetDirectoryName(typeof(ModuleInitializer).Assembly.Location)!;

    public void OnImport() => AssemblyLoadContext.Default.Resolving += Resolve;

    public void OnRemove(PSModuleInfo psModuleInfo) => AssemblyLoadContext.Default.Resolving -= Resolve;

    private static Assembly? Resolve(AssemblyLoadContext context, AssemblyName name)
    {
        if (name.Name != "Tmds.LibC")
        {
            return null;
        }
        var arch = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => "x64",
            Architecture.Arm64 => "arm64",
            Architecture.Arm => "arm",
            var other => other.ToString().ToLowerInvariant(),
        };
        var path = Path.Combine(ModuleDir, "runtimes", "linux-" + arch, "lib", "netstandard2.0", "Tmds.LibC.dll");
        return File.Exists(path) ? context.LoadFromAssemblyPath(path) : null;
    }
}
