using FastSelfReward.Compute;
using FastSelfReward.Model;

namespace FastSelfReward.Training;

/// <summary>
/// The self-test's training check: a tiny model trained a few AdamW steps on the CPU and on a
/// device, losses compared (rtol 1e-3 per step in fp32; 1e-2 in bf16 mixed precision, whose weights
/// and activations round at 2⁻⁹). It runs after <see cref="KernelSelfTest"/> in `fsr selftest`.
/// </summary>
public static class TrainingParity
{
    private const double LossRtol = 1e-3, MixedLossRtol = 1e-2;

    /// <summary>The fp32 check, and on a backend whose models default to bf16 the mixed-precision one, each reported as it ends.</summary>
    public static IReadOnlyList<SelfTestResult> Run(IKernels device, Action<SelfTestResult>? report = null)
    {
        using var cpu = new CpuKernels();
        var results = new List<SelfTestResult>();
        var checks = new List<(DType Type, double Rtol)> { (DType.F32, LossRtol) };
        if (device.ModelType == DType.BF16) checks.Add((DType.BF16, MixedLossRtol));
        foreach (var (type, rtol) in checks)
        {
            var result = Check(cpu, device, type, rtol);
            results.Add(result);
            report?.Invoke(result);
        }
        return results;
    }

    /// <summary>
    /// A two-layer grouped-query model, four AdamW steps of next-token cross-entropy on each backend:
    /// fp32 on the CPU, <paramref name="type"/> on the device.
    /// </summary>
    private static SelfTestResult Check(CpuKernels cpu, IKernels device, DType type, double lossRtol)
    {
        string name = type == DType.BF16 ? "training parity bf16" : "training parity";
        double[] expected, actual;
        try
        {
            expected = Train(cpu, DType.F32);
        }
        catch (Exception e)
        {
            return new(name, false, $"the CPU reference failed: {e.Message}");
        }
        try
        {
            actual = Train(device, type);
        }
        catch (Exception e)
        {
            return new(name, false, $"{e.GetType().Name}: {e.Message}");
        }
        for (int s = 0; s < expected.Length; s++)
            if (!(Math.Abs(actual[s] - expected[s]) <= lossRtol * Math.Abs(expected[s])))
                return new(name, false, $"step {s + 1} loss: device {actual[s]:G7} vs cpu {expected[s]:G7}");
        return new(name, true, "losses " + string.Join(" ", actual.Select(l => l.ToString("F4"))));
    }

    /// <summary>The self-tests' model: two layers of grouped-query attention, 32 wide, vocabulary 64.</summary>
    internal static readonly LlamaConfig TinyConfig = new()
    {
        VocabSize = 64, HiddenSize = 32, IntermediateSize = 48, NumHiddenLayers = 2, NumAttentionHeads = 4, NumKeyValueHeads = 2,
        RmsNormEps = 1e-5, RopeTheta = 10000, MaxPositionEmbeddings = 64,
    };

    /// <summary>The self-tests' batch: three ragged sequences of fixed random tokens.</summary>
    internal static LmExample[] TinyBatch()
    {
        var random = new Random(5);
        return [.. new[] { 9, 14, 5 }.Select(n => new LmExample([.. Enumerable.Range(0, n).Select(_ => random.Next(TinyConfig.VocabSize))]))];
    }

    /// <summary>The self-tests' model of <paramref name="type"/> on <paramref name="kernels"/>, from a fixed seed.</summary>
    internal static LlamaModel TinyModel(IKernels kernels, DType? type = null)
    {
        var model = new LlamaModel(kernels, TinyConfig, type);
        model.InitializeRandom(seed: 7, std: 0.3);
        return model;
    }

    private static double[] Train(IKernels kernels, DType type)
    {
        LmExample[] sequences = TinyBatch();
        using var model = TinyModel(kernels, type);
        var options = new PretrainOptions { Steps = 4, LearningRate = 1e-2, MinLearningRate = 1e-2, WarmupSteps = 0 };
        using var training = TrainingRun.Create(model, new CausalLmObjective(model), sequences, options, seed: 0);
        return [.. Enumerable.Range(0, options.Steps.Value).Select(_ => training.Step([sequences]).Metrics.Loss)];
    }
}
