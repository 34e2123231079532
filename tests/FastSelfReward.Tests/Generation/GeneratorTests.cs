using FastSelfReward.Compute;
using FastSelfReward.Generation;
using FastSelfReward.Model;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Generation;

public sealed class GeneratorTests
{
    private static readonly SamplingOptions Sampled = new() { Temperature = 1.0, TopP = 0.9, MaxTokens = 12, Seed = 42 };
    private static readonly SamplingOptions Greedy = Sampled with { Temperature = 0 };

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [Trait("Category", "PerBlas")]
    public void APromptGeneratesTheSameAloneAndInAMixedBatch(double temperature)
    {
        // Tokens, not logits: the BLAS may round a prompt's prefill rows differently with another
        // number of rows (docs/design.md), which could flip a token only at a near-tie; this model's
        // logits (std 0.5 weights, 31 tokens) have none.

        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config(vocab: 31);
        using var model = TinyModels.Create(kernels, config, DType.F32, std: 0.5);
        using var generator = new Generator(model, stopTokens: [], maxRows: 16, blockSize: 4);
        var options = Sampled with { Temperature = temperature };
        var prompts = TinyModels.Sequences(config.VocabSize, 8, 5, 1, 9, 3);
        var requests = prompts.Select((p, i) => new GenerationRequest(100 + i, p, Samples: 2)).ToArray();

        var batched = generator.Generate(requests, options);
        Assert.Equal(8, batched.Count);
        foreach (var request in requests)
        {
            var alone = generator.Generate([request], options);
            for (int s = 0; s < 2; s++)
                Assert.Equal(alone[s].Tokens, batched.Single(g => g.RecordId == request.RecordId && g.SampleIndex == s).Tokens);
        }
        // Different samples of one prompt draw different random numbers.
        if (temperature > 0) Assert.Contains(requests, r => !batched[2 * (int)(r.RecordId - 100)].Tokens.SequenceEqual(batched[2 * (int)(r.RecordId - 100) + 1].Tokens));
    }

    [Fact]
    [Trait("Category", "PerBlas")]
    public void SeededSamplingIsReproducibleAndSeedDependent()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config(vocab: 31);
        using var model = TinyModels.Create(kernels, config, DType.F32, std: 0.5);
        using var generator = new Generator(model, stopTokens: []);
        var requests = TinyModels.Sequences(config.VocabSize, 3, 4, 6).Select((p, i) => new GenerationRequest(i, p, 3)).ToArray();

        var first = generator.Generate(requests, Sampled);
        var again = generator.Generate(requests, Sampled);
        var other = generator.Generate(requests, Sampled with { Seed = 43 });
        Assert.Equal(first.Select(g => g.Tokens), again.Select(g => g.Tokens));
        Assert.NotEqual(first.SelectMany(g => g.Tokens), other.SelectMany(g => g.Tokens));
    }

    [Fact]
    public void TinyTopPEqualsGreedy()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config(vocab: 31);
        using var model = TinyModels.Create(kernels, config, DType.F32, std: 0.5);
        using var generator = new Generator(model, stopTokens: []);
        var requests = TinyModels.Sequences(config.VocabSize, 5, 4, 7, 2).Select((p, i) => new GenerationRequest(i, p)).ToArray();

        var greedy = generator.Generate(requests, Greedy);
        var nucleus = generator.Generate(requests, Sampled with { TopP = 1e-6 });
        Assert.Equal(greedy.Select(g => g.Tokens), nucleus.Select(g => g.Tokens));
    }

    [Fact]
    public void GreedyDecodingFollowsTheFullForwardArgmax()
    {
        using var kernels = new CpuKernels(DType.F64);
        var config = TinyModels.Config(vocab: 31);
        using var model = TinyModels.Create(kernels, config, DType.F64, std: 0.5);
        using var generator = new Generator(model, stopTokens: []);
        var prompt = TinyModels.Sequences(config.VocabSize, 6, 5)[0];

        var generated = generator.Generate([new GenerationRequest(0, prompt)], Greedy)[0].Tokens;
        var context = prompt.ToList();
        foreach (int token in generated)
        {
            model.Forward(TokenBatch.Pack([context]), training: false);
            var logits = TinyModels.Download(kernels, model.Logits([context.Count - 1]));
            Assert.Equal(Array.IndexOf(logits, logits.Max()), token);
            context.Add(token);
        }
    }

    [Fact]
    public void StopsAtAStopTokenWhichIsPartOfTheOutput()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config(vocab: 31);
        using var model = TinyModels.Create(kernels, config, DType.F32, std: 0.5);
        var prompt = TinyModels.Sequences(config.VocabSize, 6, 5)[0];
        using var free = new Generator(model, stopTokens: []);
        var unstopped = free.Generate([new GenerationRequest(0, prompt)], Greedy)[0];
        Assert.Equal(FinishReason.Length, unstopped.FinishReason);
        Assert.Equal(Greedy.MaxTokens, unstopped.Tokens.Length);

        int stop = unstopped.Tokens[3];
        using var stopping = new Generator(model, stopTokens: [stop]);
        var stopped = stopping.Generate([new GenerationRequest(0, prompt)], Greedy)[0];
        Assert.Equal(FinishReason.Stop, stopped.FinishReason);
        int firstStop = Array.IndexOf(unstopped.Tokens, stop);
        Assert.Equal(unstopped.Tokens[..(firstStop + 1)], stopped.Tokens);
    }

    [Fact]
    public void TheContextWindowEndsGenerationWithLength()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config(vocab: 31, maxPositions: 10);
        using var model = TinyModels.Create(kernels, config, DType.F32, std: 0.5);
        using var generator = new Generator(model, stopTokens: []);
        var result = generator.Generate([new GenerationRequest(0, TinyModels.Sequences(31, 1, 7)[0])], Greedy)[0];
        Assert.Equal(FinishReason.Length, result.FinishReason);
        Assert.Equal(3, result.Tokens.Length); // positions 7, 8, 9
        Assert.Throws<ArgumentException>(() => generator.Generate([new GenerationRequest(1, new int[10])], Greedy));
    }

    [Fact]
    public void PhiloxMatchesThePublishedKnownAnswer()
    {
        // Random123's known-answer test for philox4x32-10 with counter and key all ones bits.
        var (a, b, c, d) = Philox.Block(0xFFFFFFFFFFFFFFFFul, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF);
        Assert.Equal((0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu), (a, b, c, d));
        var (z0, z1, z2, z3) = Philox.Block(0, 0, 0, 0, 0);
        Assert.Equal((0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u), (z0, z1, z2, z3));
    }
}
