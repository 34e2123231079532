using System.Runtime.InteropServices;
using System.Text;

namespace FastSelfReward.Interop;

/// <summary>
/// The C library's environment: <see cref="Environment.SetEnvironmentVariable(string, string)"/>
/// changes only .NET's copy, which native getenv never sees, so variables that native libraries
/// read when they load (libgomp's) are set here.
/// </summary>
internal static unsafe partial class LibC
{
    /// <summary>Logical library name, resolved by <see cref="NativeLibraryResolver"/>.</summary>
    public const string Library = "c";

    static LibC() => NativeLibraryResolver.Register();

    [LibraryImport(Library)] private static partial int setenv(byte* name, byte* value, int overwrite);

    /// <summary>Sets a variable in the C environment unless it is already set there.</summary>
    public static void SetDefault(string name, string value)
    {
        byte[] n = Encoding.UTF8.GetBytes(name + "\0"), v = Encoding.UTF8.GetBytes(value + "\0");
        fixed (byte* pn = n, pv = v) setenv(pn, pv, 0);
    }
}
