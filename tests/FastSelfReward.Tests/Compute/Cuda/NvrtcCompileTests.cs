using System.Text;
using FastSelfReward.Compute.Cuda;
using Xunit.Abstractions;

namespace FastSelfReward.Tests.Compute.Cuda;

/// <summary>
/// Every kernels/*.cu compiles with NVRTC for the architectures CI checks: PTX for compute_80 and
/// compute_90, SASS for sm_80 and sm_90 (only SASS targets run ptxas, which validates inline PTX
/// and reports registers and spills).
/// </summary>
public sealed class NvrtcCompileTests(ITestOutputHelper output)
{
    private static readonly string[] Architectures = ["compute_80", "compute_90", "sm_80", "sm_90"];

    public static TheoryData<string, string> FilesAndArchitectures()
    {
        var data = new TheoryData<string, string>();
        foreach (string file in KernelSources.Files)
            foreach (string architecture in Architectures)
                data.Add(file, architecture);
        return data;
    }

    [Fact]
    public void KernelFilesAreEmbedded()
    {
        Assert.Contains("rmsnorm.cu", KernelSources.Files);
        KernelSource source = KernelSources.Load("rmsnorm.cu");
        Assert.Contains(source.Headers, h => h.Key == "common/common.cuh");
        Assert.Contains(source.Headers, h => h.Key == "common/bf16.cuh");
    }

    [NvrtcTheory]
    [MemberData(nameof(FilesAndArchitectures))]
    public void Compiles(string file, string architecture)
    {
        CompiledKernels compiled = new NvrtcCompiler(cacheDirectory: null).Compile(KernelSources.Load(file), architecture);
        Assert.NotEmpty(compiled.Image);
        Assert.False(compiled.FromCache);
        if (compiled.IsCubin)
        {
            Assert.NotEmpty(compiled.Resources);
            Assert.All(compiled.Resources, r => Assert.InRange(r.Registers, 1, 255));
        }
        if (compiled.Log.Length > 0) output.WriteLine(compiled.Log);
    }

    /// <summary>
    /// Registers and spills of every kernel on sm_80 and sm_90, to the test output and to
    /// build/kernel-resources.txt. Spills are a failure: every first-op kernel is a memory stream
    /// or a row reduction that fits in registers.
    /// </summary>
    [NvrtcFact]
    public void ReportsRegistersAndSpills()
    {
        var compiler = new NvrtcCompiler(cacheDirectory: null);
        var report = new StringBuilder();
        report.AppendLine($"# registers and spills per kernel (NVRTC {compiler.Version}, -Xptxas -v)");
        report.AppendLine($"{"kernel",-34} {"arch",-6} {"regs",5} {"smem",6} {"spill st",9} {"spill ld",9}");
        var spilling = new List<string>();
        var rows = from file in KernelSources.Files
                   from architecture in new[] { "sm_80", "sm_90" }
                   from r in compiler.Compile(KernelSources.Load(file), architecture).Resources
                   orderby r.Kernel, architecture
                   select (Architecture: architecture, Resources: r);
        foreach (var (architecture, r) in rows)
        {
            report.AppendLine($"{r.Kernel,-34} {architecture,-6} {r.Registers,5} {r.StaticSharedBytes,6} {r.SpillStoreBytes,9} {r.SpillLoadBytes,9}");
            if (r.SpillStoreBytes + r.SpillLoadBytes > 0) spilling.Add($"{r.Kernel} ({architecture})");
        }
        output.WriteLine(report.ToString());
        string path = Path.Combine(EmulatorTestSupport.RepositoryRoot(), "build", "kernel-resources.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, report.ToString());
        Assert.Empty(spilling);
    }

    [NvrtcFact]
    public void CacheKeyCoversHeadersAndTarget()
    {
        string directory = Path.Combine(Path.GetTempPath(), $"fsr-nvrtc-cache-{Guid.NewGuid():N}");
        try
        {
            var compiler = new NvrtcCompiler(directory);
            KernelSource source = KernelSources.Load("residual.cu");
            Assert.False(compiler.Compile(source, "sm_90").FromCache);
            CompiledKernels cached = compiler.Compile(source, "sm_90");
            Assert.True(cached.FromCache);
            Assert.Equal(compiler.Compile(source, "sm_90").Image, cached.Image);
            Assert.False(compiler.Compile(source, "sm_80").FromCache);

            var headers = source.Headers.Select(h => h.Key == "common/bf16.cuh" ? new KeyValuePair<string, string>(h.Key, h.Value + "\n// edited\n") : h).ToList();
            Assert.False(compiler.Compile(source with { Headers = headers }, "sm_90").FromCache);
            Assert.False(compiler.Compile(source with { Source = source.Source + "\n" }, "sm_90").FromCache);
        }
        finally
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
    }

    [NvrtcFact]
    public void CompileErrorsCarryTheLog()
    {
        var broken = new KernelSource("broken.cu", "extern \"C\" __global__ void k() { threadIdx.x = 1; }", []);
        var error = Assert.Throws<CudaException>(() => new NvrtcCompiler(null).Compile(broken, "compute_90"));
        Assert.Equal("NVRTC_ERROR_COMPILATION", error.ErrorName);
        Assert.Contains("broken.cu", error.ErrorText);
    }

    [NvrtcFact]
    public void TargetIsTheDevicesOwnArchitectureWhenKnown()
    {
        var compiler = new NvrtcCompiler(null);
        Assert.Equal("sm_90", compiler.TargetFor(9, 0));
        Assert.Equal("sm_80", compiler.TargetFor(8, 0));
        // A device newer than this NVRTC gets PTX of the newest architecture NVRTC knows, for the driver to JIT.
        int newest = compiler.SupportedArchitectures[^1];
        Assert.Equal($"compute_{newest}", compiler.TargetFor(newest / 10 + 1, 0));
    }

    [Fact]
    public void ParsesPtxasReport()
    {
        const string log = """
            ptxas info    : 4 bytes gmem
            ptxas info    : Compiling entry function 'a_kernel' for 'sm_90'
            ptxas info    : Function properties for a_kernel
            ptxas         .     8 bytes stack frame, 12 bytes spill stores, 16 bytes spill loads
            ptxas info    : Used 40 registers, 4224 bytes smem, 380 bytes cmem[0]
            ptxas info    : Compiling entry function 'b_kernel' for 'sm_90'
            ptxas info    : Function properties for b_kernel
            ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
            ptxas info    : Used 10 registers, 372 bytes cmem[0]
            """;
        Assert.Equal(
            [new KernelResources("a_kernel", 40, 12, 16, 4224), new KernelResources("b_kernel", 10, 0, 0, 0)],
            NvrtcCompiler.ParseResources(log));
    }
}
