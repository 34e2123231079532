using System.Diagnostics;
using FastSelfReward.Compute;
using FastSelfReward.Generation;
using FastSelfReward.Interop;
using FastSelfReward.Model;
using FastSelfReward.Tests.Cli;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Training;
using Xunit.Abstractions;

namespace FastSelfReward.Tests.Compute;

/// <summary>
/// Where the NVTX ranges are (through the listener every range also reports to) and that they reach
/// a profiler: native/tests/nvtx_recorder.c stands in for Nsight Systems when libfsr_native was built
/// with the NVTX3 headers; without them the native calls must be harmless no-ops.
/// </summary>
public sealed class NvtxTests(ITestOutputHelper output)
{
    [Fact]
    public void A_training_step_is_one_range_around_each_micro_batchs_forward_and_backward_and_the_optimizer_step()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F32);
        var examples = TinyModels.Sequences(config.VocabSize, 3, 7, 5, 9).Select(s => new LmExample(s)).ToArray();
        using var training = TrainingRun.Create(model, new CausalLmObjective(model), examples, new PretrainOptions { Steps = 10 }, seed: 0);

        using var recorder = new RangeRecorder();
        training.Step([examples[..2], examples[2..3]]);

        Assert.Equal(0, recorder.Open);
        Assert.Equal("train step[forward, backward, forward, backward, optimizer step]", Assert.Single(recorder.Ranges).ToString());
    }

    [Fact]
    public void A_dpo_step_is_one_range_around_forwards_backwards_and_the_optimizer_step_and_the_reference_has_its_own()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F32);
        var ids = TinyModels.Sequences(config.VocabSize, 5, 3, 4, 2, 2, 5, 3);
        PreferencePair[] pairs = [new(ids[0], ids[1], ids[2]), new(ids[3], ids[4], ids[5])];

        using var recorder = new RangeRecorder();
        var reference = ReferenceLogProbs.Compute(model, pairs, "test", 4096);
        var options = new DpoOptions { HeldOutFraction = 0, PairsPerStep = 2 };
        using var training = TrainingRun.Create(model, new DpoObjective(model, options), reference.Examples(pairs), options, seed: 0);
        training.Step(training.PlanEpoch(0)[0]);

        Assert.Equal(0, recorder.Open);
        Assert.Equal(["reference logps[forward]", "train step[forward, backward, optimizer step]"], recorder.Ranges.Select(r => r.ToString()));
    }

    [Fact]
    public void Each_generation_batch_is_one_range_around_its_prefill_forward_and_its_decode_steps()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config(vocab: 31);
        using var model = TinyModels.Create(kernels, config, DType.F32);
        // No stop tokens: every row runs its full budget of 3 tokens, the first from the prefill's logits.
        using var generator = new Generator(model, stopTokens: [], maxRows: 2, blockSize: 4);
        var prompts = TinyModels.Sequences(config.VocabSize, 2, 4, 6, 3);
        var requests = prompts.Select((p, i) => new GenerationRequest(i, p)).ToArray();

        using var recorder = new RangeRecorder();
        generator.Generate(requests, new SamplingOptions { Temperature = 1, TopP = 0.9, MaxTokens = 3, Seed = 1 });

        Assert.Equal(0, recorder.Open);
        Assert.Equal(["generate[forward, decode, decode]", "generate[forward, decode, decode]"], recorder.Ranges.Select(r => r.ToString()));
    }

    [Fact]
    public void A_range_left_by_an_exception_is_closed()
    {
        using var kernels = new CpuKernels(DType.F32);
        var config = TinyModels.Config();
        using var model = TinyModels.Create(kernels, config, DType.F32);

        using var recorder = new RangeRecorder();
        Assert.ThrowsAny<ArgumentException>(() => model.Forward(TokenBatch.Pack([[config.VocabSize]]), training: false));

        Assert.Equal(0, recorder.Open);
        Assert.Equal("forward", Assert.Single(recorder.Ranges).ToString());
    }

    [Fact]
    public void A_range_allocates_nothing()
    {
        // The first rounds may allocate while the JIT tiers the code up; the steady state must not.
        long allocated = -1;
        for (int round = 0; round < 5 && allocated != 0; round++)
        {
            if (round > 0) Thread.Sleep(200);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10_000; i++)
            {
                using var _ = Nvtx.Range("forward");
            }
            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        }
        Assert.Equal(0, allocated);
    }

    [Fact]
    public void Info_says_whether_nvtx_is_compiled_in()
    {
        var result = CliRunner.Run("info");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains(Nvtx.CompiledIn ? "nvtx: compiled in" : "nvtx: not compiled in", result.Out);
    }

    [Fact]
    public unsafe void The_native_calls_report_the_build_and_are_harmless_without_a_profiler()
    {
        Assert.Equal(Nvtx.CompiledIn, FsrNative.fsr_nvtx_enabled() == 1);
        byte[] name = "outer\0"u8.ToArray();
        fixed (byte* p = name)
        {
            FsrNative.fsr_nvtx_push(p);
            FsrNative.fsr_nvtx_push(p);
            FsrNative.fsr_nvtx_pop();
            FsrNative.fsr_nvtx_pop();
        }
        // No profiler is attached to the test host, so even an unbalanced close must be ignored.
        FsrNative.fsr_nvtx_pop();
    }

    [NvtxFact]
    public void With_nvtx_compiled_in_a_profiler_receives_the_ranges_the_listener_sees()
    {
        Assert.True(File.Exists(RecorderPath), $"{RecorderPath} is missing: CMake builds it whenever it compiles NVTX in");
        string record = Path.Combine(Path.GetTempPath(), $"fsr-nvtx-{Guid.NewGuid():N}.txt");
        try
        {
            // NVTX looks for its tool once per process, at the first range, so the tool gets a process of its own.
            var (exitCode, text) = Fsr(new() { ["NVTX_INJECTION64_PATH"] = RecorderPath, ["FSR_NVTX_RECORD"] = record }, "selftest", "--device", "cpu");
            Assert.True(exitCode == 0, text);

            string[] lines = File.ReadAllLines(record);
            output.WriteLine($"{lines.Length} events recorded; the first ones:\n{string.Join('\n', lines.Take(8))}");
            Assert.EndsWith(" FastSelfReward", Assert.Single(lines, l => l.StartsWith("domain ", StringComparison.Ordinal)));

            // Rebuild each thread's tree from the events, as a timeline would.
            var trees = new Dictionary<string, RangeRecorder.Node>();
            var open = new Dictionary<string, Stack<RangeRecorder.Node>>();
            foreach (string line in lines.Where(l => !l.StartsWith("domain ", StringComparison.Ordinal)))
            {
                string[] f = line.Split(' ', 4);
                Assert.Equal("FastSelfReward", f[2]);
                if (!open.TryGetValue(f[1], out var stack))
                {
                    trees[f[1]] = new RangeRecorder.Node("");
                    open[f[1]] = stack = new Stack<RangeRecorder.Node>([trees[f[1]]]);
                }
                if (f[0] == "push")
                {
                    var node = new RangeRecorder.Node(f[3]);
                    stack.Peek().Children.Add(node);
                    stack.Push(node);
                }
                else
                {
                    Assert.Equal("pop", f[0]);
                    Assert.True(stack.Count > 1, $"a pop without a push on thread {f[1]}");
                    stack.Pop();
                }
            }
            Assert.All(open.Values, s => Assert.Single(s));

            using (var recorder = new RangeRecorder())
            {
                Assert.Equal(0, CliRunner.Run("selftest", "--device", "cpu").ExitCode);
                var profiled = Assert.Single(trees.Values).Children.Select(n => n.ToString());
                Assert.Contains("optimizer step", profiled);
                Assert.Equal(recorder.Ranges.Select(n => n.ToString()), profiled);
            }
        }
        finally
        {
            File.Delete(record);
        }
    }

    private static (int ExitCode, string Output) Fsr(Dictionary<string, string> environment, params string[] args)
    {
        var result = FsrProcess.Alone(args, environment);
        return (result.ExitCode, result.Error + result.Out);
    }

    private static string RecorderPath => Path.Combine(AppContext.BaseDirectory, "libfsr_nvtx_recorder.so");
}

/// <summary>
/// A fact that needs libfsr_native built with the NVTX3 headers. It skips, saying so, in a build
/// without them, unless FSR_REQUIRE_NVTX is set (to check a build that must have them).
/// </summary>
public sealed class NvtxFactAttribute : FactAttribute
{
    public NvtxFactAttribute()
    {
        if (!Nvtx.CompiledIn && Environment.GetEnvironmentVariable("FSR_REQUIRE_NVTX") is null or "" or "0")
            Skip = "libfsr_native was built without the nvtx3 headers (docs/cuda.md, Profiling; set FSR_REQUIRE_NVTX=1 to fail instead)";
    }
}
