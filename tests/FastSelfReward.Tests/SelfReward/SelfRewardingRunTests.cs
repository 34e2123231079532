using FastSelfReward.Compute;
using FastSelfReward.Data;
using FastSelfReward.Demo;
using FastSelfReward.Reporting;
using FastSelfReward.SelfReward;
using Xunit.Abstractions;

namespace FastSelfReward.Tests.SelfReward;

/// <summary>
/// Every stage of the loop end to end on a tiny model pretrained inside the test: world data, a
/// BPE tokenizer, M0, then SFT baseline, EFT, M1, prompts, candidates, judgments, pairs and DPO.
/// </summary>
public sealed class SelfRewardingRunTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "PerBlas")]
    public void EveryStageRunsAndARerunSkipsFinishedStages()
    {
        string folder = Path.Combine(Path.GetTempPath(), "fsr-run-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var kernels = new CpuKernels();
            var log = new StringWriter();
            var pipeline = new DemoPipeline(DemoPreset.Test, folder, kernels, new PlainProgress(TextWriter.Null), log);
            var report = pipeline.Run();
            string runFolder = pipeline.RunFolder;
            output.WriteLine(log.ToString());

            var manifest = RunManifest.Open(runFolder);
            foreach (string stage in StageId.All(1).Select(s => s.Name))
                Assert.True(manifest.IsDone(stage), $"stage {stage} is not done");
            foreach (string model in new[] { "sft", "m1", "m2" })
                Assert.True(File.Exists(Path.Combine(runFolder, "models", model, "model.safetensors")), $"models/{model} missing");
            var prompts = Jsonl.ReadAll<PromptRecord>(Path.Combine(runFolder, "iter1", "prompts.jsonl")).Records;
            var candidates = Jsonl.ReadAll<CandidatesRecord>(Path.Combine(runFolder, "iter1", "candidates.jsonl")).Records;
            Assert.NotEmpty(prompts);
            Assert.Equal(prompts.Select(p => p.Id), candidates.Select(c => c.Id));
            Assert.All(candidates, c => Assert.Equal(DemoPreset.Test.Run.Candidates, c.Candidates.Count));
            Assert.NotEmpty(File.ReadAllLines(Path.Combine(runFolder, "metrics.jsonl")));

            // The oracle's evaluation of every model, the report and its plots.
            Assert.Equal(["sft", "m1", "m2"], report.Models.Select(m => m.Model));
            Assert.All(report.Models, m => Assert.Equal(DemoPreset.Test.EvalPrompts, m.VsSft.Outcomes));
            Assert.Equal(DemoPreset.Test.EvalPrompts, report.Models[0].VsSft.Ties);
            Assert.All(report.Models, m => Assert.InRange(m.MeanScore, 0, 5));
            Assert.All(report.Models, m => Assert.InRange(m.SampledScore, 0, 5));
            Assert.Equal(DemoPreset.Test.World.EftEvalPrompts, report.EvalSets);
            Assert.Equal(File.ReadAllLines(Path.Combine(runFolder, "iter1", "pairs.jsonl")).Length, Assert.Single(report.Iterations).Pairs);
            foreach (string file in new[] { "report.md", "report.json", "plots/scores.png", "plots/rates.png", "plots/pretrain_loss.png", "plots/training_losses.png", "plots/grad_norms.png" })
                Assert.True(new FileInfo(Path.Combine(folder, file)).Length > 0, $"{file} missing or empty");
            string markdown = File.ReadAllText(Path.Combine(folder, "report.md"));
            Assert.Contains("| Pairwise accuracy % |", markdown);
            Assert.Contains("| Judge: chosen | Judge: rejected | Oracle: chosen | Oracle: rejected |", markdown);
            Assert.Equal(prompts.Count, report.Iterations[0].Prompts);
            // Two seeds of the loop from one M0 and writer, pooled: every (seed, prompt) counted once.
            Assert.Equal([1, 2], report.Seeds.Select(s => s.Seed));
            Assert.True(RunManifest.Open(pipeline.RunFolderOf(1)).IsDone(StageId.All(1).Last().Name), "the second seed's run did not finish");
            Assert.All(report.Pooled, p => Assert.Equal(2 * DemoPreset.Test.EvalPrompts, p.VsSft.Outcomes));
            Assert.Equal(2 * DemoPreset.Test.EvalPrompts, report.Pooled[0].VsSft.Ties);
            Assert.Equal(report.Seeds.Sum(s => s.Iterations[0].ChosenBetter), report.PooledIterations[0].ChosenBetter);
            Assert.Contains("## Over the seeds (2)", markdown);
            // The judge's pairs by kind are the pairs of its pairwise accuracy, counted another way.
            for (int m = 1; m < report.Models.Count; m++)
            {
                Assert.Equal(report.Seeds.Sum(s => s.Models[m].Judge.Pairs), report.JudgePairKinds.Sum(k => k.Pairs[m - 1]));
                Assert.Equal(report.Seeds.Sum(s => s.Models[m].Judge.CorrectPairs), report.JudgePairKinds.Sum(k => k.Correct[m - 1]));
            }
            Assert.Contains("## The judge by kind of pair (over the seeds)", markdown);
            // The prompts come from the demo's separate writer, trained once, not from M1.
            Assert.Equal("prompt_writer", report.Iterations[0].PromptWriter);
            Assert.True(File.Exists(Path.Combine(pipeline.PromptWriterFolder, "model.safetensors")));

            // A rerun finds every stage done, verifies the hashes and changes nothing.
            var hashes = manifest.Stages.ToDictionary(s => s.Key, s => s.Value.Artifacts);
            var again = new StringWriter();
            new DemoPipeline(DemoPreset.Test, folder, kernels, new PlainProgress(TextWriter.Null), again).Run();
            Assert.Contains("done, skipped", again.ToString());
            Assert.Contains("evaluation m2: done, skipped", again.ToString());
            Assert.DoesNotContain("running", again.ToString());
            Assert.DoesNotContain("answering", again.ToString());
            Assert.Equal(hashes.Keys, RunManifest.Open(runFolder).Stages.Keys);

            // A model that no stage still to run needs may be deleted: the finished run still reruns and reports.
            Directory.Delete(Path.Combine(runFolder, "models", "sft"), recursive: true);
            var withoutSft = new StringWriter();
            new DemoPipeline(DemoPreset.Test, folder, kernels, new PlainProgress(TextWriter.Null), withoutSft).Run();
            Assert.DoesNotContain("running", withoutSft.ToString());

            // A finished artifact changed on disk is an error, not silently different input.
            File.AppendAllText(Path.Combine(runFolder, "iter1", "pairs.jsonl"), "\n");
            var error = Assert.Throws<InvalidDataException>(() => new DemoPipeline(DemoPreset.Test, folder, kernels, new PlainProgress(TextWriter.Null), TextWriter.Null).Run());
            Assert.Contains("pairs.jsonl", error.Message);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }
}
