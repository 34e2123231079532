using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

public class EmbeddingTests
{
    private const int Vocab = 7, Dim = 5;
    // Repeated ids: the backward must sum their gradients, not keep the last one.
    private static readonly int[] Tokens = [3, 0, 6, 3, 3, 1];

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void ForwardGathersRows(DType type)
    {
        var kernels = new CpuKernels(type);
        double[] table = new Random(1).Uniform(Vocab * Dim);
        using DeviceBuffer output = kernels.Allocate(Tokens.Length * Dim, type), tokens = kernels.Ints(Tokens), dTable = kernels.Floats(table);
        kernels.EmbeddingForward(output, tokens, dTable, Tokens.Length, Dim);
        double[] actual = kernels.Read(output);
        for (int i = 0; i < Tokens.Length; i++)
            for (int j = 0; j < Dim; j++)
                Assert.Equal(type == DType.F32 ? (float)table[Tokens[i] * Dim + j] : table[Tokens[i] * Dim + j], actual[i * Dim + j]);
    }

    [Fact]
    public void BackwardMatchesFiniteDifferencesAndAccumulates()
    {
        var kernels = new CpuKernels(DType.F64);
        var random = new Random(2);
        double[] table = random.Uniform(Vocab * Dim), cotangent = random.Uniform(Tokens.Length * Dim);
        double[] prefill = random.Uniform(Vocab * Dim);
        using DeviceBuffer output = kernels.Allocate(Tokens.Length * Dim, DType.F64), tokens = kernels.Ints(Tokens);
        using DeviceBuffer dTable = kernels.Floats(table), dOutput = kernels.Floats(cotangent), grad = kernels.Floats(prefill);

        kernels.EmbeddingBackward(grad, dOutput, tokens, Tokens.Length, Dim);
        double[] accumulated = kernels.Read(grad);
        double[] analytic = accumulated.Select((g, i) => g - prefill[i]).ToArray();

        FiniteDifferences.Check(table, values =>
        {
            kernels.Upload(dTable, values);
            kernels.EmbeddingForward(output, tokens, dTable, Tokens.Length, Dim);
            return FiniteDifferences.Dot(kernels.Read(output), cotangent);
        }, analytic, "dTable");
        // Rows of ids that never occur keep the prefilled values exactly (+= of nothing).
        for (int j = 0; j < Dim; j++) Assert.Equal(prefill[2 * Dim + j], accumulated[2 * Dim + j]);
    }

    [Theory]
    [InlineData(Vocab)]
    [InlineData(-1)]
    public void RejectsTokenOutsideTheTable(int badToken)
    {
        var kernels = new CpuKernels();
        using DeviceBuffer output = kernels.Allocate(2 * Dim, DType.F32), table = kernels.Allocate(Vocab * Dim, DType.F32);
        using DeviceBuffer tokens = kernels.Ints([0, badToken]);
        var forward = Assert.Throws<ArgumentOutOfRangeException>(() => kernels.EmbeddingForward(output, tokens, table, 2, Dim));
        Assert.Equal("tokens", forward.ParamName);
        var backward = Assert.Throws<ArgumentOutOfRangeException>(() => kernels.EmbeddingBackward(table, output, tokens, 2, Dim));
        Assert.Equal("tokens", backward.ParamName);
    }
}
