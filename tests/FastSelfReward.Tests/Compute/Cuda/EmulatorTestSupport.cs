using FastSelfReward.Compute.Cuda;

namespace FastSelfReward.Tests.Compute.Cuda;

/// <summary>
/// Buffers and source lines for the emulator's tests: device arrays from host arrays and back,
/// and the line of a marker comment in native/cuda_emu/tests/emulator_test_kernels.cu, so that
/// tests check error messages against the real line numbers instead of copies of them.
/// </summary>
internal static unsafe class EmulatorTestSupport
{
    public static nint Upload<T>(ICudaDevice device, T[] values) where T : unmanaged
    {
        nint address = device.Allocate((long)values.Length * sizeof(T));
        fixed (T* p = values) device.CopyHostToDevice(address, p, (long)values.Length * sizeof(T));
        return address;
    }

    public static T[] Download<T>(ICudaDevice device, nint address, int count) where T : unmanaged
    {
        var values = new T[count];
        fixed (T* p = values) device.CopyDeviceToHost(p, address, (long)count * sizeof(T));
        return values;
    }

    public static float[] Sequence(int count, Func<int, float> value) => Enumerable.Range(0, count).Select(value).ToArray();

    /// <summary>"emulator_test_kernels.cu:LINE" of the line holding <paramref name="marker"/>.</summary>
    public static string TestKernelLine(string marker)
    {
        string path = Path.Combine(RepositoryRoot(), "native", "cuda_emu", "tests", "emulator_test_kernels.cu");
        string[] lines = File.ReadAllLines(path);
        int index = Array.FindIndex(lines, line => line.Contains(marker, StringComparison.Ordinal));
        Assert.True(index >= 0, $"marker {marker} not found in {path}");
        return $"emulator_test_kernels.cu:{index + 1}";
    }

    public static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            if (File.Exists(Path.Combine(directory.FullName, "FastSelfReward.sln"))) return directory.FullName;
        throw new InvalidOperationException($"no FastSelfReward.sln above {AppContext.BaseDirectory}");
    }
}
