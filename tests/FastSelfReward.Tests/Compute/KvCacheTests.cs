using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

public class KvCacheTests
{
    private const int KvHeads = 2, HeadDim = 4, BlockSize = 4, Blocks = 3;
    private const int TokenWidth = KvHeads * HeadDim, Capacity = Blocks * BlockSize;

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void WritesEachRowToItsSlotAndNothingElse(DType type)
    {
        var kernels = new CpuKernels(type);
        var random = new Random(11);
        int[] slots = [9, 0, 5, 11, 4];
        double[] k = random.Uniform(slots.Length * TokenWidth), v = random.Uniform(slots.Length * TokenWidth);
        using DeviceBuffer kCache = kernels.Allocate(Capacity * TokenWidth, type), vCache = kernels.Allocate(Capacity * TokenWidth, type);
        using DeviceBuffer tk = kernels.Floats(k), tv = kernels.Floats(v), tslots = kernels.Ints(slots);
        kernels.KvCacheWrite(kCache, vCache, tk, tv, tslots, slots.Length, KvHeads, HeadDim);

        double[] expectedK = new double[Capacity * TokenWidth], expectedV = new double[Capacity * TokenWidth];
        double[] storedK = kernels.Read(tk), storedV = kernels.Read(tv);
        for (int i = 0; i < slots.Length; i++)
        {
            Array.Copy(storedK, i * TokenWidth, expectedK, slots[i] * TokenWidth, TokenWidth);
            Array.Copy(storedV, i * TokenWidth, expectedV, slots[i] * TokenWidth, TokenWidth);
        }
        Assert.Equal(expectedK, kernels.Read(kCache));
        Assert.Equal(expectedV, kernels.Read(vCache));
    }

    [Theory]
    [InlineData(Capacity)]
    [InlineData(-1)]
    public void RejectsSlotOutsideTheCache(int badSlot)
    {
        var kernels = new CpuKernels();
        using DeviceBuffer cache = kernels.Allocate(Capacity * TokenWidth, DType.F32), rows = kernels.Allocate(2 * TokenWidth, DType.F32);
        using DeviceBuffer slots = kernels.Ints([1, badSlot]);
        var error = Assert.Throws<ArgumentOutOfRangeException>(() => kernels.KvCacheWrite(cache, cache, rows, rows, slots, 2, KvHeads, HeadDim));
        Assert.Equal("slots", error.ParamName);
    }
}
