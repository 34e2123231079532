using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;

namespace FastSelfReward.Interop;

/// <summary>
/// Resolves the logical library names of this assembly's P/Invoke declarations to files. Linux
/// runtime packages ship versioned names only (libcuda.so.1, libnvrtc.so.12), and the runtime's
/// default probing would never try those, so each logical name has an ordered list of
/// candidates. Every attempt is recorded; when none loads, the <see cref="DllNotFoundException"/>
/// lists each candidate with the loader's error, so a failed load can be diagnosed from the
/// message alone.
/// </summary>
internal static class NativeLibraryResolver
{
    /// <summary>Logical name → candidates, tried in order. Add a native library by adding a row.</summary>
    private static readonly Dictionary<string, LibraryCandidate[]> Candidates = new(StringComparer.Ordinal)
    {
        [FsrNative.Library] =
        [
            LibraryCandidate.InBaseDirectory("libfsr_native.so"),
            LibraryCandidate.FromEnvironment("FSR_NATIVE_LIB"),
            LibraryCandidate.Probe(FsrNative.Library),
        ],
        [LibC.Library] = [LibraryCandidate.Probe("libc.so.6")],
        [FsrMpi.Library] =
        [
            LibraryCandidate.InBaseDirectory("libfsr_mpi.so"),
            LibraryCandidate.FromEnvironment("FSR_MPI_LIB"),
            LibraryCandidate.Probe(FsrMpi.Library),
        ],
        [CudaEmu.Library] =
        [
            LibraryCandidate.InBaseDirectory("libfsr_cuda_emu.so"),
            LibraryCandidate.FromEnvironment("FSR_CUDA_EMU_LIB"),
            LibraryCandidate.Probe(CudaEmu.Library),
        ],
        ["cuda"] = [LibraryCandidate.Probe("libcuda.so.1"), LibraryCandidate.Probe("libcuda.so")],
        [Nccl.Library] = [LibraryCandidate.FromEnvironment("FSR_NCCL_LIB"), LibraryCandidate.Probe("libnccl.so.2"), LibraryCandidate.Probe("libnccl.so")],
        ["nvrtc"] =
        [
            LibraryCandidate.Probe("libnvrtc.so.13"),
            LibraryCandidate.Probe("libnvrtc.so.12"),
            LibraryCandidate.Probe("libnvrtc.so.11.2"),
            LibraryCandidate.Probe("libnvrtc.so"),
        ],
        ["cublas"] =
        [
            LibraryCandidate.Probe("libcublas.so.13"),
            LibraryCandidate.Probe("libcublas.so.12"),
            LibraryCandidate.Probe("libcublas.so"),
        ],
        ["cublasLt"] =
        [
            LibraryCandidate.Probe("libcublasLt.so.13"),
            LibraryCandidate.Probe("libcublasLt.so.12"),
            LibraryCandidate.Probe("libcublasLt.so"),
        ],
    };

    private static readonly Lock RegistrationLock = new();
    private static bool s_registered;

    /// <summary>
    /// Installs the resolver for this assembly. Idempotent: every interop class calls it from its
    /// static constructor, and the runtime allows only one resolver per assembly.
    /// </summary>
    public static void Register()
    {
        lock (RegistrationLock)
        {
            if (s_registered) return;
            NativeLibrary.SetDllImportResolver(typeof(NativeLibraryResolver).Assembly, Resolve);
            s_registered = true;
        }
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath) =>
        Candidates.TryGetValue(libraryName, out LibraryCandidate[]? candidates)
            ? Load(libraryName, candidates, assembly, searchPath)
            : 0; // not ours: the runtime's default probing applies

    /// <summary>
    /// Loads the first candidate that loads.
    /// </summary>
    /// <exception cref="DllNotFoundException">No candidate loaded; the message lists every attempt and its error.</exception>
    internal static nint Load(string libraryName, IReadOnlyList<LibraryCandidate> candidates, Assembly assembly,
        DllImportSearchPath? searchPath)
    {
        var trace = new StringBuilder();
        foreach (LibraryCandidate candidate in candidates)
        {
            string? target = candidate.Target();
            if (target is null)
            {
                trace.Append("\n  ").Append(candidate.Description).Append(": not set");
                continue;
            }
            try
            {
                // A path loads exactly that file; a bare name goes through the runtime's probing
                // (application directory, lib prefix and .so suffix variants, then dlopen's search).
                return Path.IsPathRooted(target)
                    ? NativeLibrary.Load(target)
                    : NativeLibrary.Load(target, assembly, searchPath);
            }
            catch (Exception e) when (e is DllNotFoundException or BadImageFormatException)
            {
                trace.Append("\n  ").Append(candidate.Description).Append(" -> ").Append(target).Append(':');
                foreach (string line in LoaderErrors(e.Message)) trace.Append("\n      ").Append(line);
            }
        }
        throw new DllNotFoundException(
            $"Native library '{libraryName}' could not be loaded. Tried, in order:{trace}\n" +
            "(LD_DEBUG=libs shows every path the system loader searched.)");
    }

    /// <summary>
    /// The system loader's own lines (dlerror, one per file the runtime probed) from the runtime's
    /// message, without the advice paragraph the runtime repeats before them on every attempt.
    /// </summary>
    private static IEnumerable<string> LoaderErrors(string message)
    {
        const string advice = "LD_DEBUG environment variable:";
        int cut = message.IndexOf(advice, StringComparison.Ordinal);
        string errors = cut < 0 ? message : message[(cut + advice.Length)..];
        return errors.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }
}

/// <summary>One place to look for a native library.</summary>
/// <param name="Description">How the attempt is named in a load trace.</param>
/// <param name="Target">The file name or path to load now, or null when the source is unset.</param>
internal sealed record LibraryCandidate(string Description, Func<string?> Target)
{
    /// <summary>A file next to the application's assemblies.</summary>
    public static LibraryCandidate InBaseDirectory(string fileName) =>
        new($"application directory ({fileName})", () => Path.Combine(AppContext.BaseDirectory, fileName));

    /// <summary>A path (or name) held by an environment variable, read at load time.</summary>
    public static LibraryCandidate FromEnvironment(string variable) =>
        new($"${variable}", () => Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value ? value : null);

    /// <summary>A file name for the runtime's default probing and the system loader's search path.</summary>
    public static LibraryCandidate Probe(string name) => new($"default probing ({name})", () => name);
}
