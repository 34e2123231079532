using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using FastSelfReward.Interop;

namespace FastSelfReward.Compute.Cuda;

/// <summary>What ptxas reported for one kernel (-Xptxas -v), for sm_XX targets.</summary>
public readonly record struct KernelResources(string Kernel, int Registers, int SpillStoreBytes, int SpillLoadBytes, int StaticSharedBytes);

/// <summary>The output of one compile.</summary>
/// <param name="Image">A cubin for sm_XX targets, NUL-terminated PTX for compute_XX; loadable by cuModuleLoadData.</param>
/// <param name="Target">The architecture compiled for ("sm_90", "compute_90").</param>
/// <param name="Log">NVRTC's log (warnings, ptxas info); empty when the image came from the cache.</param>
/// <param name="Resources">Per-kernel registers and spills parsed from the log.</param>
/// <param name="FromCache">Whether the image was read from the disk cache.</param>
public sealed record CompiledKernels(byte[] Image, string Target, string Log, IReadOnlyList<KernelResources> Resources, bool FromCache)
{
    /// <summary>Whether <see cref="Image"/> is SASS (sm_XX) rather than PTX.</summary>
    public bool IsCubin => Target.StartsWith("sm_", StringComparison.Ordinal);
}

/// <summary>
/// Compiles kernels/*.cu with the NVRTC found on this machine. Headers are passed in memory
/// (nvrtcCreateProgram's headers/includeNames), so no NVIDIA header is needed. Results are cached
/// on disk under a key that hashes everything that changes the output: NVRTC's version, the target
/// architecture, the options, the file name, its source and every header; a stale entry can only
/// come from a hash collision.
/// </summary>
public sealed unsafe partial class NvrtcCompiler
{
    private readonly string? _cacheDirectory;

    /// <param name="cacheDirectory">Where compiled images are kept; null compiles every time.</param>
    /// <exception cref="DllNotFoundException">No NVRTC could be loaded; the message lists every attempt.</exception>
    public NvrtcCompiler(string? cacheDirectory)
    {
        _cacheDirectory = cacheDirectory;
        int major, minor, count;
        Nvrtc.Check(Nvrtc.nvrtcVersion(&major, &minor), "nvrtcVersion");
        Version = new Version(major, minor);
        Nvrtc.Check(Nvrtc.nvrtcGetNumSupportedArchs(&count), "nvrtcGetNumSupportedArchs");
        var archs = new int[count];
        fixed (int* p = archs) Nvrtc.Check(Nvrtc.nvrtcGetSupportedArchs(p), "nvrtcGetSupportedArchs");
        SupportedArchitectures = archs.Order().ToArray();
    }

    /// <summary>NVRTC's version (11.8 for Debian's libnvrtc11.2 package).</summary>
    public Version Version { get; }

    /// <summary>The sm_XX numbers this NVRTC can target (80, 86, 90, ...), ascending.</summary>
    public IReadOnlyList<int> SupportedArchitectures { get; }

    /// <summary>
    /// Whether an NVRTC library loads here; <paramref name="reason"/> says why not (the resolver's
    /// load trace).
    /// </summary>
    public static bool IsAvailable(out string reason)
    {
        try
        {
            int major, minor;
            Nvrtc.Check(Nvrtc.nvrtcVersion(&major, &minor), "nvrtcVersion");
            reason = $"NVRTC {major}.{minor}";
            return true;
        }
        catch (DllNotFoundException e)
        {
            reason = e.Message;
            return false;
        }
    }

    /// <summary>The default cache directory: $FSR_KERNEL_CACHE, else $XDG_CACHE_HOME or ~/.cache, /fastselfreward/kernels.</summary>
    public static string DefaultCacheDirectory()
    {
        if (Environment.GetEnvironmentVariable("FSR_KERNEL_CACHE") is { Length: > 0 } explicitDirectory) return explicitDirectory;
        string? xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        string root = xdg is { Length: > 0 } ? xdg : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "fastselfreward", "kernels");
    }

    /// <summary>
    /// The target for a device of compute capability <paramref name="major"/>.<paramref name="minor"/>:
    /// its own sm_XX when this NVRTC knows it; else the newest known sm_XX of the same major (SASS
    /// runs on later minors of its major); else PTX for the newest known architecture below it, for
    /// the driver to JIT (the device is newer than this NVRTC, and so is its driver).
    /// </summary>
    /// <exception cref="NotSupportedException">The device is older than every architecture this NVRTC targets.</exception>
    public string TargetFor(int major, int minor)
    {
        int arch = major * 10 + minor;
        if (SupportedArchitectures.Contains(arch)) return $"sm_{arch}";
        int sameMajor = SupportedArchitectures.Where(a => a / 10 == major && a < arch).DefaultIfEmpty(0).Max();
        if (sameMajor != 0) return $"sm_{sameMajor}";
        int below = SupportedArchitectures.Where(a => a < arch).DefaultIfEmpty(0).Max();
        if (below != 0) return $"compute_{below}";
        throw new NotSupportedException(
            $"NVRTC {Version} targets sm_{string.Join(", sm_", SupportedArchitectures)}; the device is sm_{arch}");
    }

    /// <summary>The NVRTC options for a target: C++17, line info for profilers, and ptxas's resource report for SASS.</summary>
    public static IReadOnlyList<string> Options(string target)
    {
        var options = new List<string> { $"--gpu-architecture={target}", "--std=c++17", "--generate-line-info" };
        if (target.StartsWith("sm_", StringComparison.Ordinal)) options.Add("--ptxas-options=-v");
        return options;
    }

    /// <summary>Compiles <paramref name="source"/> for <paramref name="target"/> ("sm_90" or "compute_90"), or reads the cache.</summary>
    /// <exception cref="CudaException">The compile failed; the text is NVRTC's log.</exception>
    public CompiledKernels Compile(KernelSource source, string target)
    {
        IReadOnlyList<string> options = Options(target);
        string? cachePath = null;
        if (_cacheDirectory is not null)
        {
            string key = CacheKey(source, target, options);
            cachePath = Path.Combine(_cacheDirectory,
                $"{Path.GetFileNameWithoutExtension(source.FileName)}-{target}-{key}.{(target.StartsWith("sm_", StringComparison.Ordinal) ? "cubin" : "ptx")}");
            if (File.Exists(cachePath))
                return new CompiledKernels(File.ReadAllBytes(cachePath), target, "", [], FromCache: true);
        }
        CompiledKernels compiled = CompileNow(source, target, options);
        if (cachePath is not null) WriteAtomically(cachePath, compiled.Image);
        return compiled;
    }

    private string CacheKey(KernelSource source, string target, IReadOnlyList<string> options)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string text)
        {
            byte[] bytes = Encoding.UTF8.GetBytes(text);
            hash.AppendData(BitConverter.GetBytes(bytes.Length)); // length-prefixed: no two inputs concatenate alike
            hash.AppendData(bytes);
        }
        Add("fsr-nvrtc-1");
        Add(Version.ToString());
        Add(target);
        foreach (string option in options) Add(option);
        Add(source.FileName);
        Add(source.Source);
        foreach (var (name, text) in source.Headers)
        {
            Add(name);
            Add(text);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset())[..32];
    }

    private static void WriteAtomically(string path, byte[] bytes)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        string temporary = $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temporary, bytes);
        File.Move(temporary, path, overwrite: true);
    }

    private static CompiledKernels CompileNow(KernelSource source, string target, IReadOnlyList<string> options)
    {
        using var strings = new Utf8Strings();
        int headerCount = source.Headers.Count;
        byte** headers = stackalloc byte*[Math.Max(headerCount, 1)];
        byte** includeNames = stackalloc byte*[Math.Max(headerCount, 1)];
        for (int i = 0; i < headerCount; i++)
        {
            headers[i] = strings.Add(source.Headers[i].Value);
            includeNames[i] = strings.Add(source.Headers[i].Key);
        }
        byte** optionPointers = stackalloc byte*[options.Count];
        for (int i = 0; i < options.Count; i++) optionPointers[i] = strings.Add(options[i]);

        nint program;
        Nvrtc.Check(Nvrtc.nvrtcCreateProgram(&program, strings.Add(source.Source), strings.Add(source.FileName),
            headerCount, headers, includeNames), $"nvrtcCreateProgram({source.FileName})");
        try
        {
            int result = Nvrtc.nvrtcCompileProgram(program, options.Count, optionPointers);
            string log = ProgramLog(program);
            if (result != Nvrtc.NVRTC_SUCCESS)
                throw Nvrtc.Error(result, $"nvrtcCompileProgram({source.FileName}, {target})", log);
            bool cubin = target.StartsWith("sm_", StringComparison.Ordinal);
            nuint size;
            byte[] image;
            if (cubin)
            {
                Nvrtc.Check(Nvrtc.nvrtcGetCUBINSize(program, &size), "nvrtcGetCUBINSize");
                image = new byte[size];
                fixed (byte* p = image) Nvrtc.Check(Nvrtc.nvrtcGetCUBIN(program, p), "nvrtcGetCUBIN");
            }
            else
            {
                Nvrtc.Check(Nvrtc.nvrtcGetPTXSize(program, &size), "nvrtcGetPTXSize");
                image = new byte[size];
                fixed (byte* p = image) Nvrtc.Check(Nvrtc.nvrtcGetPTX(program, p), "nvrtcGetPTX");
            }
            return new CompiledKernels(image, target, log, ParseResources(log), FromCache: false);
        }
        finally
        {
            Nvrtc.nvrtcDestroyProgram(&program);
        }
    }

    private static string ProgramLog(nint program)
    {
        nuint size;
        Nvrtc.Check(Nvrtc.nvrtcGetProgramLogSize(program, &size), "nvrtcGetProgramLogSize");
        if (size <= 1) return "";
        var log = new byte[size];
        fixed (byte* p = log) Nvrtc.Check(Nvrtc.nvrtcGetProgramLog(program, p), "nvrtcGetProgramLog");
        return Encoding.UTF8.GetString(log, 0, (int)size - 1);
    }

    /// <summary>Per-kernel resources from a ptxas -v log ("Compiling entry function 'x'", "... spill stores ...", "Used N registers, M bytes smem").</summary>
    public static IReadOnlyList<KernelResources> ParseResources(string log)
    {
        var result = new List<KernelResources>();
        string? kernel = null;
        int spillStores = 0, spillLoads = 0;
        foreach (string line in log.Split('\n'))
        {
            if (EntryPattern().Match(line) is { Success: true } entry)
            {
                kernel = entry.Groups[1].Value;
                spillStores = spillLoads = 0;
            }
            else if (SpillPattern().Match(line) is { Success: true } spill)
            {
                spillStores = int.Parse(spill.Groups[1].Value);
                spillLoads = int.Parse(spill.Groups[2].Value);
            }
            else if (kernel is not null && UsedPattern().Match(line) is { Success: true } used)
            {
                int shared = used.Groups[2].Success ? int.Parse(used.Groups[2].Value) : 0;
                result.Add(new KernelResources(kernel, int.Parse(used.Groups[1].Value), spillStores, spillLoads, shared));
                kernel = null;
            }
        }
        return result;
    }

    [GeneratedRegex(@"Compiling entry function '([^']+)'")]
    private static partial Regex EntryPattern();
    [GeneratedRegex(@"(\d+) bytes spill stores, (\d+) bytes spill loads")]
    private static partial Regex SpillPattern();
    [GeneratedRegex(@"Used (\d+) registers(?:, (\d+) bytes smem)?")]
    private static partial Regex UsedPattern();

    /// <summary>NUL-terminated UTF-8 copies in native memory, freed together.</summary>
    private sealed class Utf8Strings : IDisposable
    {
        private readonly List<nint> _allocations = [];

        public byte* Add(string text)
        {
            byte* p = (byte*)Marshal.StringToCoTaskMemUTF8(text);
            _allocations.Add((nint)p);
            return p;
        }

        public void Dispose()
        {
            foreach (nint p in _allocations) Marshal.FreeCoTaskMem(p);
        }
    }
}
