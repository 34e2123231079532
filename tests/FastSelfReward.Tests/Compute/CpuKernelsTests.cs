using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

/// <summary>The backend itself: memory, transfers, and the native library's self-description.</summary>
public class CpuKernelsTests
{
    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    [InlineData(DType.I32)]
    public void AllocatesZeroFilledAlignedMemory(DType type)
    {
        var kernels = new CpuKernels();
        using DeviceBuffer a = kernels.Allocate(1001, type), b = kernels.Allocate(3, type);
        foreach (DeviceBuffer buffer in new[] { a, b })
        {
            Assert.Equal(0, buffer.View.Address % 256);
            Assert.Equal(type, buffer.View.Type);
        }
        if (type == DType.I32) Assert.All(kernels.ReadInts(a), x => Assert.Equal(0, x));
        else Assert.All(kernels.Read(a), x => Assert.Equal(0.0, x));
    }

    [Fact]
    public void TransfersConvertBetweenSpanAndTensorTypes()
    {
        var kernels = new CpuKernels();
        using DeviceBuffer f32 = kernels.Allocate(3, DType.F32), f64 = kernels.Allocate(3, DType.F64), i32 = kernels.Allocate(3, DType.I32);
        double third = 1.0 / 3;
        kernels.Upload(f32, [third, -2.5, 1e-3]);
        kernels.Upload(f64, [1f / 3, -2.5f, 1e-3f]);
        kernels.Upload(i32, [7, -1, int.MaxValue]);

        Assert.Equal([(double)(float)third, -2.5, (double)1e-3f], kernels.Read(f32));
        Assert.Equal([(double)(1f / 3), -2.5, (double)1e-3f], kernels.Read(f64));
        var floats = new float[3];
        kernels.Download(f64, floats);
        Assert.Equal([1f / 3, -2.5f, 1e-3f], floats);
        Assert.Equal([7, -1, int.MaxValue], kernels.ReadInts(i32));

        Assert.Contains("destination", Assert.Throws<ArgumentException>(() => kernels.Upload(i32, [1.0])).Message);
        Assert.Contains("expected at least 4", Assert.Throws<ArgumentException>(() => kernels.Upload(f32, new float[4])).Message);
    }

    [Fact]
    public void CopyAndZeroCoverExactlyTheView()
    {
        var kernels = new CpuKernels(DType.F64);
        using DeviceBuffer source = kernels.Floats([1, 2, 3, 4]), destination = kernels.Floats([9, 9, 9, 9]);
        kernels.Copy(destination.Slice(1, 2), source.Slice(0, 2));
        Assert.Equal([9.0, 1, 2, 9], kernels.Read(destination));
        kernels.Zero(destination.Slice(2, 1));
        Assert.Equal([9.0, 1, 0, 9], kernels.Read(destination));
        Assert.Throws<ArgumentException>(() => kernels.Copy(destination.Slice(0, 3), source.Slice(0, 2)));
    }

    [Fact]
    public void DescribesTheNativeLibrary()
    {
        string description = new CpuKernels().Describe();
        Assert.False(string.IsNullOrWhiteSpace(description));
        Assert.DoesNotContain('\0', description);
    }

    [Fact]
    public void ComputesOnlyInFloatingTypes() =>
        Assert.Throws<ArgumentException>(() => new CpuKernels(DType.I32));
}
