using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;
using FastSelfReward.Generation;
using FastSelfReward.Tests.Compute.Cuda;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Generation;

/// <summary>
/// Generation on the emulated GPU (CudaKernels: prefill, KV cache, decode attention, sampling kernels)
/// against the CPU with the same weights: greedy decoding gives the same tokens, and seeded top-p
/// sampling draws the same tokens while the logits agree (fp32 storage: they differ by a few ulp).
/// </summary>
public sealed class EmulatedGpuGenerationTests
{
    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    public void The_emulated_gpu_generates_the_cpu_tokens(double temperature)
    {
        var options = new SamplingOptions { Temperature = temperature, TopP = 0.9, MaxNewTokens = 10, Seed = 42 };
        var config = TinyModels.Config(vocab: 31);
        var prompts = TinyModels.Sequences(config.VocabSize, 8, 5, 1, 9);
        var requests = prompts.Select((p, i) => new GenerationRequest(100 + i, p, Samples: 2)).ToArray();

        IReadOnlyList<GeneratedSequence> Generate(IKernels kernels)
        {
            using var model = TinyModels.Create(kernels, config, DType.F32, std: 0.5);
            using var generator = new Generator(model, stopTokens: [], maxRows: 16, blockSize: 4);
            return generator.Generate(requests, options);
        }

        using var cpu = new CpuKernels(DType.F32);
        using var cuda = new CudaKernels(KernelRegisterCounts.Device(new EmulatorOptions()));
        var expected = Generate(cpu);
        var actual = Generate(cuda);
        Assert.Equal(expected.Count, actual.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal((expected[i].RecordId, expected[i].SampleIndex), (actual[i].RecordId, actual[i].SampleIndex));
            Assert.Equal(expected[i].Tokens, actual[i].Tokens);
        }
    }
}
