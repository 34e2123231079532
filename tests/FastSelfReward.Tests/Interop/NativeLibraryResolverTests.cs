using System.Runtime.InteropServices;
using FastSelfReward.Interop;

namespace FastSelfReward.Tests.Interop;

public class NativeLibraryResolverTests
{
    [Fact]
    public void FailureListsEveryAttemptWithTheLoaderError()
    {
        string missingPath = Path.Combine(AppContext.BaseDirectory, "libfsr_missing.so");
        LibraryCandidate[] candidates =
        [
            LibraryCandidate.InBaseDirectory("libfsr_missing.so"),
            LibraryCandidate.FromEnvironment("FSR_TEST_VARIABLE_THAT_IS_NOT_SET"),
            LibraryCandidate.Probe("libfsr_missing.so.13"),
        ];
        var error = Assert.Throws<DllNotFoundException>(
            () => NativeLibraryResolver.Load("fsr_missing", candidates, typeof(NativeLibraryResolver).Assembly, null));

        Assert.Contains("'fsr_missing'", error.Message);
        Assert.Contains(missingPath, error.Message);
        Assert.Contains("$FSR_TEST_VARIABLE_THAT_IS_NOT_SET: not set", error.Message);
        Assert.Contains("libfsr_missing.so.13", error.Message);
        Assert.Contains("cannot open shared object file", error.Message); // the OS loader's own words
    }

    [Fact]
    public void FallsThroughToTheFirstCandidateThatLoads()
    {
        LibraryCandidate[] candidates = [LibraryCandidate.Probe("libfsr_missing.so.13"), LibraryCandidate.InBaseDirectory("libfsr_native.so")];
        nint handle = NativeLibraryResolver.Load("fsr_native", candidates, typeof(NativeLibraryResolver).Assembly, null);
        Assert.NotEqual(0, handle);
        Assert.True(NativeLibrary.TryGetExport(handle, "fsr_info", out _));
    }
}
