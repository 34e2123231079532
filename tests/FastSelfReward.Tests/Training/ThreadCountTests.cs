using FastSelfReward.Compute;
using FastSelfReward.Tests.Checkpoints;
using FastSelfReward.Tests.TestSupport;
using FastSelfReward.Training;

namespace FastSelfReward.Tests.Training;

/// <summary>Runs alone: it changes the process-wide CPU thread count.</summary>
[CollectionDefinition(nameof(ThreadCountTests), DisableParallelization = true)]
public sealed class ThreadCountCollection;

/// <summary>
/// OpenBLAS sums weight gradients in an order that depends on the thread count (docs/loop.md,
/// "Safety"), so a training state written with one count is refused by a process with another.
/// </summary>
[Collection(nameof(ThreadCountTests))]
public sealed class ThreadCountTests
{
    [Fact]
    public void A_training_state_is_refused_by_a_process_with_another_thread_count_and_taken_with_the_same()
    {
        int threads = CpuKernels.Threads;
        try
        {
            using var kernels = new CpuKernels(DType.F32);
            using var dir = new ScratchFolder();
            string path = dir.File("state.safetensors");
            var config = TinyModels.Config();
            LmExample[] examples = [new(TinyModels.Sequences(config.VocabSize, 2, 9)[0])];
            CpuKernels.Threads = 2;
            using (var model = TinyModels.Create(kernels, config, DType.F32))
            using (var training = TrainingRun.Create(model, new CausalLmObjective(model), examples, new PretrainOptions { Steps = 1 }, seed: 0))
                training.Run(new TrainingOutput { CheckpointPath = path });

            CpuKernels.Threads = 1;
            using (var model = TinyModels.Create(kernels, config, DType.F32))
            using (var training = TrainingRun.Create(model, new CausalLmObjective(model), examples, new PretrainOptions { Steps = 1 }, seed: 0))
            {
                var error = Assert.Throws<InvalidDataException>(() => training.Run(new TrainingOutput { CheckpointPath = path }));
                Assert.Contains("written with 2 CPU threads, this process has 1", error.Message);
            }

            CpuKernels.Threads = 2;
            using (var model = TinyModels.Create(kernels, config, DType.F32))
            using (var training = TrainingRun.Create(model, new CausalLmObjective(model), examples, new PretrainOptions { Steps = 1 }, seed: 0))
                Assert.Equal(1, training.Run(new TrainingOutput { CheckpointPath = path }).ResumedFrom);
        }
        finally
        {
            CpuKernels.Threads = threads;
        }
    }
}
