using FastSelfReward.Distributed;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Distributed;

public sealed class CommunicatorTests
{
    [Fact]
    public void AProcessNoLauncherStartedIsAJobOfOneWithoutMpi()
    {
        Assert.Null(Communicator.Launcher(_ => null));
        Assert.Equal("PMIX_RANK", Communicator.Launcher(name => name == "PMIX_RANK" ? "0" : null));
        Assert.Equal("OMPI_COMM_WORLD_SIZE", Communicator.Launcher(name => name is "OMPI_COMM_WORLD_SIZE" or "PMI_SIZE" ? "2" : null));

        var world = Communicator.Single;
        Assert.Equal((0, 1, 0), (world.Rank, world.Size, world.LocalRank));
        Assert.All(CollectiveCheck.Run(world), r => Assert.True(r.Passed, $"{r.Name}: {r.Detail}"));
        Assert.Throws<ArgumentException>(() => world.ReduceScatterSum(new float[4], new float[3]));
        Assert.DoesNotContain("libmpi", File.ReadAllText("/proc/self/maps"));
    }

    [Theory]
    [InlineData(2, null, "cpu", "48 passed, 0 failed")]
    // Three ranks (a count no buffer length divides) and 7-element chunks, so every collective crosses
    // chunks; the backend's buffers on the emulated GPU, summed through host memory as without NCCL.
    [InlineData(3, "7", "emulated", "72 passed, 0 failed")]
    public void UnderMpirunEveryCollectiveMatchesTheSumInRankOrderBitForBit(int ranks, string? chunk, string device, string expected)
    {
        var environment = chunk is null ? null : new Dictionary<string, string> { ["FSR_MPI_CHUNK_ELEMENTS"] = chunk };
        var result = FsrProcess.UnderMpirun(ranks, ["selftest", "--collectives", "--device", device], environment);
        Assert.True(result.ExitCode == 0, result.Error + result.Out);
        Assert.Contains($"selftest: collectives over {ranks} ranks (MPI", result.Out);
        Assert.Contains(expected, result.Out);
        Assert.DoesNotContain("FAIL", result.Out);
        Assert.Contains("device reduce to owners (MPI via host) × 65539", result.Out);
        Assert.Contains($"pass    training steps through MPI via host (ZeRO-1 over one rank, {(device == "cpu" ? "F32" : "BF16")} model): 0 weights differ", result.Out);
    }

    [Fact]
    public void AVerbThatRunsInOneProcessRefusesAJobOfSeveral()
    {
        var result = FsrProcess.UnderMpirun(2, ["prompts", "--run", Path.Combine(Path.GetTempPath(), "fsr-never-" + Guid.NewGuid().ToString("N"))]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("fsr prompts: runs in one process, and mpirun started 2", result.Error);
    }

    [Fact]
    public void WithoutLibfsrMpiAProcessRunsAsBeforeAndOneALauncherStartedSaysWhatItCouldNotLoad()
    {
        // The application without libfsr_mpi.so: every other file copied into a folder of its own
        // (links would not do: the runtime probes the folder their targets are in).
        string folder = Path.Combine(Path.GetTempPath(), "fsr-nompi-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            foreach (string file in Directory.GetFiles(AppContext.BaseDirectory).Where(f => Path.GetFileName(f) != "libfsr_mpi.so"))
                File.Copy(file, Path.Combine(folder, Path.GetFileName(file)));
            string dll = Path.Combine(folder, "fsr.dll");

            var alone = FsrProcess.Alone(["info"], dll: dll);
            Assert.True(alone.ExitCode == 0, alone.Error);
            Assert.Contains("ranks: 1 (started without mpirun)", alone.Out);

            var launched = FsrProcess.Alone(["info"], new Dictionary<string, string> { ["OMPI_COMM_WORLD_SIZE"] = "2" }, dll);
            Assert.Equal(1, launched.ExitCode);
            Assert.Contains("started by an MPI launcher ($OMPI_COMM_WORLD_SIZE is set), but MPI could not be loaded", launched.Error);
            Assert.Contains("libfsr_mpi.so", launched.Error);
            Assert.Contains("Tried, in order", launched.Error);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}

public sealed class ScalingBenchTests
{
    [Fact]
    public void UnderMpirunBenchMeasuresOneRankThenAllAndReportsTheScaling()
    {
        string output = Path.Combine(Path.GetTempPath(), "fsr-scaling-" + Guid.NewGuid().ToString("N") + ".json");
        try
        {
            var result = FsrProcess.UnderMpirun(2, ["bench", "--short", "--config", "tiny", "--threads", "1", "--output", output]);
            Assert.True(result.ExitCode == 0, result.Error + result.Out);
            using var report = System.Text.Json.JsonDocument.Parse(File.ReadAllText(output));
            Assert.Equal(2, report.RootElement.GetProperty("ranks").GetInt32());
            var tiny = Assert.Single(report.RootElement.GetProperty("configs").EnumerateArray());
            double Number(string name) => tiny.GetProperty(name).GetDouble();
            Assert.True(tiny.GetProperty("sharded_optimizer").GetBoolean());
            // Each figure is what its step time says: B·T tokens per rank and step.
            double tokens = Number("batch_per_rank") * Number("seq_len");
            Assert.Equal(tokens / Number("one_rank_step_seconds"), Number("one_rank_tokens_per_second"), 0.02 * Number("one_rank_tokens_per_second"));
            Assert.Equal(2 * tokens / Number("step_seconds"), Number("tokens_per_second"), 0.02 * Number("tokens_per_second"));
            Assert.Equal(Number("tokens_per_second") / (2 * Number("one_rank_tokens_per_second")), Number("efficiency"), 0.01);
            Assert.InRange(Number("efficiency"), 0.05, 4);
        }
        finally
        {
            File.Delete(output);
        }
    }
}
