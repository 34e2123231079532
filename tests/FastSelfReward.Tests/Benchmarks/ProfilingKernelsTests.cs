using FastSelfReward.Benchmarks;
using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;
using FastSelfReward.Tests.Compute.Cuda;

namespace FastSelfReward.Tests.Benchmarks;

/// <summary>
/// The timing decorator on an asynchronous backend (the emulated GPU with deferred launches, which
/// runs nothing until it is synchronised): with <see cref="ProfilingKernels.SynchronizeEachOp"/> an
/// op has finished when its call returns, so its clock covers it; without, it is still queued.
/// </summary>
public sealed class ProfilingKernelsTests
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public unsafe void SynchronizeEachOp_finishes_the_op_before_the_call_returns(bool synchronize)
    {
        using var cuda = new CudaKernels(new EmulatedCudaDevice(new EmulatorOptions { DeferredLaunches = true }));
        var profiler = new ProfilingKernels(cuda) { SynchronizeEachOp = synchronize };
        const int n = 512;
        float[] a = CudaParity.Random(n, 1), b = CudaParity.Random(n, 2);
        float[] expected = a.Zip(b, (x, y) => x + y).ToArray();
        using DeviceBuffer ga = CudaParity.Put(cuda, a, DType.F32), gb = CudaParity.Put(cuda, b, DType.F32), sum = cuda.Allocate(n, DType.F32);
        cuda.Synchronize();
        profiler.ResidualForward(sum, ga, gb, n);
        var raw = new float[n];
        fixed (float* p = raw) cuda.Device.CopyDeviceToHost(p, sum.View.Address, n * sizeof(float));
        Assert.Equal(synchronize, expected.SequenceEqual(raw));
        Assert.Equal(1, profiler.Ops["ResidualForward"].Calls);
    }

    [Fact]
    public void Gemms_are_recorded_by_shape_and_types()
    {
        using var cpu = new CpuKernels();
        var profiler = new ProfilingKernels(cpu);
        using DeviceBuffer a = cpu.Allocate(2 * 4, DType.F32), b = cpu.Allocate(3 * 4, DType.F32), c = cpu.Allocate(2 * 3, DType.F32);
        profiler.Gemm(false, true, 2, 3, 4, 1, a, 4, b, 4, 0, c, 3);
        profiler.Gemm(false, true, 2, 3, 4, 1, a, 4, b, 4, 0, c, 3);
        var (shape, time) = Assert.Single(profiler.Gemms);
        Assert.Equal(new GemmShape(false, true, 2, 3, 4, DType.F32, DType.F32, DType.F32), shape);
        Assert.Equal(2, time.Calls);
        Assert.Equal(2 * 48.0, time.Flops);
        Assert.Equal(2 * 48.0, profiler.Ops["Gemm"].Flops);
        Assert.Equal("2x3x4 NT F32", shape.ToString());
        Assert.Equal("8x5x6 TN BF16,BF16->F32", new GemmShape(true, false, 8, 5, 6, DType.BF16, DType.BF16, DType.F32).ToString());
    }
}
