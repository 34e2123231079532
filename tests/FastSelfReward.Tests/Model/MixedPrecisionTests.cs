using FastSelfReward.Checkpoints;
using FastSelfReward.Compute;
using FastSelfReward.Compute.Cuda;
using FastSelfReward.Model;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.Tests.Compute.Cuda;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Training;

namespace FastSelfReward.Tests.Model;

/// <summary>
/// A bf16 model on the emulated GPU (bf16 weights copy, activations and KV cache; fp32 master weights,
/// gradients and AdamW moments) against the same model in fp32 on the CPU. The bounds are a few times
/// the errors measured when the tests were written: bf16 rounds at 2⁻⁹ relative, and each layer adds its
/// own roundings.
/// </summary>
public sealed class MixedPrecisionTests
{
    private static readonly LlamaConfig Config = TinyModels.Config(vocab: 37) with { HiddenSize = 32, IntermediateSize = 48 };

    private static (TokenBatch Batch, int[] Targets, double[] Weights) Data()
    {
        var batch = TokenBatch.Pack(TinyModels.Sequences(Config.VocabSize, 3, 9, 14, 5));
        var targets = new int[batch.Count];
        Array.Fill(targets, -1);
        for (int s = 0; s < batch.Sequences; s++)
            for (int i = batch.CuSeqlens[s]; i + 1 < batch.CuSeqlens[s + 1]; i++) targets[i] = batch.Tokens[i + 1];
        int tokens = targets.Count(t => t >= 0);
        return (batch, targets, targets.Select(t => t >= 0 ? -1.0 / tokens : 0.0).ToArray());
    }

    private static float[] Floats(IKernels kernels, Tensor tensor)
    {
        var values = new float[tensor.Length];
        kernels.Download(tensor, values);
        return values;
    }

    [Fact]
    public void A_bf16_model_keeps_fp32_master_weights_and_gradients_and_reads_their_rounded_copy()
    {
        using var gpu = CudaParity.EmulatedGpu(reverse: false);
        using var model = new LlamaModel(gpu, Config);
        Assert.Equal(DType.BF16, model.Type);
        Assert.Equal(DType.F32, model.Parameters.View.Type);
        Assert.Equal(DType.F32, model.Gradients.View.Type);
        var (batch, _, _) = Data();
        var never = Assert.Throws<InvalidOperationException>(() => model.Forward(batch));
        Assert.Contains("ParametersChanged", never.Message);

        model.InitializeRandom(seed: 7, std: 0.3);
        var master = Floats(gpu, model.Parameters);
        var copy = Floats(gpu, model.ComputeWeights);
        Assert.Equal(CudaParity.RoundBf16(master), copy);
        Assert.Contains(master, w => BFloat16.Round(w) != w);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Bf16_log_probs_and_gradients_follow_the_cpu_fp32_model(bool reverse)
    {
        var (batch, targets, weights) = Data();
        (double[] Logp, float[] Gradients) Run(IKernels kernels, DType type)
        {
            using var model = TinyModels.Create(kernels, Config, type);
            model.ZeroGradients();
            model.Forward(batch);
            var logp = new double[batch.Count];
            model.Backward(targets, weights, logp);
            return (logp, Floats(kernels, model.Gradients));
        }
        using var cpu = new CpuKernels();
        using var gpu = CudaParity.EmulatedGpu(reverse);
        var expected = Run(cpu, DType.F32);
        var actual = Run(gpu, DType.BF16);

        // Measured: log-probs (about -5) within 0.058; gradients within 1-5% of their norm per tensor.
        for (int i = 0; i < batch.Count; i++)
            Assert.True(Math.Abs(actual.Logp[i] - expected.Logp[i]) < 0.2, $"row {i}: logp bf16 {actual.Logp[i]} vs fp32 {expected.Logp[i]}");
        foreach (var entry in new ParameterLayout(Config).Entries)
        {
            var e = expected.Gradients.AsSpan((int)entry.Offset, (int)entry.Count);
            var a = actual.Gradients.AsSpan((int)entry.Offset, (int)entry.Count);
            double difference = 0, norm = 0;
            for (int i = 0; i < e.Length; i++)
            {
                difference += (double)(a[i] - e[i]) * (a[i] - e[i]);
                norm += (double)e[i] * e[i];
            }
            double relative = Math.Sqrt(difference / norm);
            Assert.True(norm > 0 && relative < 0.15, $"{entry.Name}: bf16 gradient is {relative:P1} of the fp32 gradient's norm away from it");
        }
    }

    [Fact]
    public void Bf16_training_follows_the_cpu_and_keeps_updates_too_small_for_bf16()
    {
        var (batch, targets, weights) = Data();
        (double[] Losses, float[] Before, float[] After) Train(IKernels kernels, DType type)
        {
            using var model = TinyModels.Create(kernels, Config, type);
            using var optimizer = new AdamWOptimizer(model, new AdamWOptions { WeightDecay = 0.1 });
            var losses = new double[6];
            var logp = new double[batch.Count];
            float[] before = [];
            for (int step = 0; step <= losses.Length; step++)
            {
                model.ZeroGradients();
                model.Forward(batch);
                model.Backward(targets, weights, logp);
                if (step == losses.Length) before = Floats(kernels, model.Parameters);
                else losses[step] = -logp.Where((_, i) => targets[i] >= 0).Sum() / targets.Count(t => t >= 0);
                // The last update is far below bf16's resolution of these weights.
                optimizer.Update(step == losses.Length ? 1e-6 : 1e-2);
            }
            return (losses, before, Floats(kernels, model.Parameters));
        }
        using var cpu = new CpuKernels();
        using var gpu = CudaParity.EmulatedGpu(reverse: false);
        var expected = Train(cpu, DType.F32);
        var actual = Train(gpu, DType.BF16);
        // Measured: within 1.5% over the first four steps; later steps drift further apart, as two
        // trajectories of a chaotic optimisation do, but both keep falling.
        for (int s = 0; s < 4; s++)
            Assert.True(Math.Abs(actual.Losses[s] - expected.Losses[s]) <= 0.05 * expected.Losses[s],
                $"step {s + 1}: loss bf16 {actual.Losses[s]} vs fp32 {expected.Losses[s]}");
        Assert.True(actual.Losses[^1] < 0.2 * actual.Losses[0], $"bf16 losses: {string.Join(" ", actual.Losses)}");
        // A 1e-6 step moves a weight of about 0.3 by far less than its bf16 spacing (2⁻⁹ · 0.3): only
        // fp32 master weights keep it (measured: 97% of them moved).
        double moved = actual.Before.Zip(actual.After, (b, a) => b != a).Count(m => m) / (double)actual.Before.Length;
        Assert.True(moved > 0.9, $"only {moved:P1} of the master weights moved under a 1e-6 step");
    }

    [Fact]
    public void A_bf16_model_saves_and_loads_its_master_weights_bit_for_bit()
    {
        using var dir = new ScratchFolder();
        using var gpu = CudaParity.EmulatedGpu(reverse: false);
        using var cpu = new CpuKernels();
        using var model = TinyModels.Create(gpu, Config, DType.BF16);
        ModelCheckpoint.Save(model, dir.Path);
        using var onGpu = ModelCheckpoint.Load(gpu, dir.Path);
        using var onCpu = ModelCheckpoint.Load(cpu, dir.Path);
        Assert.Equal(DType.BF16, onGpu.Type);
        Assert.Equal(DType.F32, onCpu.Type);
        var master = Floats(gpu, model.Parameters);
        Assert.Equal(master, Floats(gpu, onGpu.Parameters));
        Assert.Equal(master, Floats(cpu, onCpu.Parameters));
        Assert.Equal(CudaParity.RoundBf16(master), Floats(gpu, onGpu.ComputeWeights));
    }
}
