using System.Security.Cryptography;
using System.Text.Json;
using FastSelfReward.Checkpoints;
using FastSelfReward.Compute;
using FastSelfReward.Data;
using FastSelfReward.Demo;
using FastSelfReward.Evaluation;
using FastSelfReward.Reporting;
using FastSelfReward.SelfReward;
using FastSelfReward.Training;
using FastSelfReward.Tests.TestSupport;
using Xunit.Abstractions;

namespace FastSelfReward.Tests.SelfReward;

public sealed class CheckpointSelectionTests(DemoInputsFixture fixture, ITestOutputHelper output) : IClassFixture<DemoInputsFixture>
{
    private static SelectionCandidate Candidate(long step, double? preference, bool baseline = false) =>
        new(step, baseline, 0, 0, 0, 0, null, null, null, preference, 0);

    [Fact]
    public void TheChoiceIsTheHighestPreferenceWithTheLaterStepAmongEquals()
    {
        Assert.Equal(6, CheckpointSelection.Choose([Candidate(2, 0.6), Candidate(4, 0.7), Candidate(6, 0.7), Candidate(8, 0.5, baseline: true)]));
        // Against the last step: an earlier one must be preferred to it, not merely equal.
        Assert.Equal(8, CheckpointSelection.Choose([Candidate(2, 0.4), Candidate(4, 0.5), Candidate(8, 0.5, baseline: true)]));
        Assert.Equal(2, CheckpointSelection.Choose([Candidate(2, 0.51), Candidate(8, 0.5, baseline: true)]));
        // A candidate without a valid verdict is never chosen; with none valid, the last step is kept.
        Assert.Equal(4, CheckpointSelection.Choose([Candidate(2, null), Candidate(4, 0.2), Candidate(6, double.NaN)]));
        Assert.Equal(6, CheckpointSelection.Choose([Candidate(2, null), Candidate(6, null)]));
    }

    /// <summary>Prefers the candidate of its <c>favourite</c>-th comparison (1-based) and rejects every other; can fail on a given call.</summary>
    private sealed class ScriptedComparer(int favourite, int failOnCall = 0) : IAnswerComparer
    {
        public int Calls { get; private set; }

        public IReadOnlyList<SelectionVerdict> Compare(IReadOnlyList<string> prompts, IReadOnlyList<string> answersA, IReadOnlyList<string> answersB)
        {
            if (++Calls == failOnCall) throw new OperationCanceledException("interrupted while judging");
            var outcome = Calls == favourite ? HeadToHeadOutcome.Win : HeadToHeadOutcome.Loss;
            return [.. prompts.Select((p, i) => new SelectionVerdict(p, answersA[i], answersB[i], outcome, ["scripted"]))];
        }
    }

    [Fact]
    public void EachCandidateHoldsItsStepsWeightsTheChosenOneBecomesTheModelAndAnInterruptedSelectionResumes()
    {
        string folder = fixture.NewRunFolder();
        var config = fixture.Config with { CheckpointSelection = new SelectionConfig { SftEvery = 2, MaxPrompts = 3 } };
        using var kernels = new CpuKernels();
        var log = new StringWriter();
        using (var run = new RunContext(folder, config, kernels, new PlainProgress(TextWriter.Null), log))
        {
            var examples = Jsonl.ReadAll<IftRecord>(config.Ift).Records.Take(48)
                .Select(r => LmExample.FromChat(run.Template.Render(r.Prompt, r.Response))).ToList();
            var selection = new CheckpointSelection(run, "sft", "sft", every: 2, new ScriptedComparer(favourite: 2, failOnCall: 2));
            var weightsAt = new Dictionary<long, double[]>();
            long steps;
            using (var model = run.LoadModel(null))
            using (var training = TrainingRun.Create(model, new CausalLmObjective(model), examples, config.Sft with { ExamplesPerStep = 8 }, seed: 3))
            {
                selection.SaveCandidatesOf(training, model);
                training.Stepped += report => weightsAt[report.Step] = TinyModels.Download(kernels, model.Parameters);
                training.Run();
                steps = training.TotalSteps;
            }
            Assert.Equal(6, steps);
            Assert.Equal([2, 4, 6], selection.CandidateSteps(steps));
            foreach (long step in selection.CandidateSteps(steps))
            {
                using var saved = ModelCheckpoint.Load(kernels, run.PathOf(selection.CandidateFolder(step)));
                Assert.Equal(weightsAt[step], TinyModels.Download(kernels, saved.Parameters));
            }
            Assert.False(Directory.Exists(run.PathOf(selection.CandidateFolder(3))));
            string chosenWeights = Sha256(Path.Combine(run.PathOf(selection.CandidateFolder(4)), "model.safetensors"));

            // Interrupted while judging the second candidate: the first one's answers and verdicts stay.
            string[] prompts = ["Name a colour.", "Count to three.", "Say hello.", "Name a fruit."];
            Assert.Throws<OperationCanceledException>(() => selection.Select(prompts, config.BaseModel, null, steps, CancellationToken.None));
            Assert.False(File.Exists(run.PathOf(selection.ResultFile)));

            var resumed = new ScriptedComparer(favourite: 1);
            var artifacts = new CheckpointSelection(run, "sft", "sft", every: 2, resumed).Select(prompts, config.BaseModel, null, steps, CancellationToken.None);
            Assert.Equal(1, resumed.Calls);
            Assert.Equal(["models/sft/config.json", "models/sft/model.safetensors", "train/sft/selection.json"], artifacts.Select(a => a.Replace('\\', '/')));

            // Step 2 lost to the last step's checkpoint and step 4 beat it: step 4 is the model, byte for byte.
            var record = JsonSerializer.Deserialize<SelectionRecord>(File.ReadAllText(run.PathOf(selection.ResultFile)), Jsonl.Options)!;
            Assert.Equal(4, record.ChosenStep);
            Assert.Equal(3, record.Prompts);
            Assert.Equal("held_out", record.PromptSource);
            Assert.Equal([2, 4, 6], record.Candidates.Select(c => c.Step));
            Assert.Equal([0.0, 1.0, 0.5], record.Candidates.Select(c => c.Preference!.Value));
            Assert.True(record.Candidates[2].Baseline);
            Assert.Equal(chosenWeights, Sha256(run.PathOf(Path.Combine("models", "sft", "model.safetensors"))));
            Assert.False(Directory.Exists(run.PathOf(Path.Combine("train", "sft", "candidates"))));
            Assert.Contains("step 4 of 2, 4, 6 chosen", log.ToString());
            var metrics = File.ReadAllLines(run.PathOf("metrics.jsonl"));
            Assert.Contains(metrics, line => line.Contains("\"sft/selected_step\": 4") || line.Contains("\"sft/selected_step\":4"));
        }
    }

    [Fact]
    public void ARunSelectsTheSftBaselineM1AndEachDpoModelByItsOwnJudgesScoresAndSavesBfloat16()
    {
        string folder = fixture.NewRunFolder();
        var config = fixture.Config with
        {
            CheckpointSelection = new SelectionConfig
            {
                SftEvery = 2, DpoEvery = 1, MaxPrompts = 4, Verdicts = SelectionVerdicts.Scores,
                Sampling = new() { Temperature = 0, TopP = 1, MaxTokens = 16 },
                JudgeSampling = new() { Temperature = 0.7, TopP = 0.9, MaxTokens = 48 },
            },
            ModelDtype = ModelDtype.Bfloat16,
        };
        using var kernels = new CpuKernels();
        var log = new StringWriter();
        using (var run = new RunContext(folder, config, kernels, new PlainProgress(TextWriter.Null), log))
        {
            var stages = new SelfRewardingRun(run);
            foreach (string stage in new[] { "sft", "eft", "m1" }) stages.RunStage(StageId.Parse(stage));
            RunFolders.WithHandMadePairs(folder, config.Ift, run.Manifest);
            stages.RunStage(StageId.Parse("iter1/dpo"));
        }
        output.WriteLine(log.ToString());

        var manifest = RunManifest.Open(folder);
        foreach (var (stage, model) in new[] { ("sft", "sft"), ("m1", "m1"), ("iter1/dpo", "m2") })
        {
            string result = Path.Combine("train", model, "selection.json");
            Assert.Contains(result, manifest.Stages[stage].Artifacts.Keys);
            var record = JsonSerializer.Deserialize<SelectionRecord>(File.ReadAllText(Path.Combine(folder, result)), Jsonl.Options)!;
            Assert.Equal(CheckpointSelection.Choose(record.Candidates), record.ChosenStep);
            Assert.True(record.Candidates.Count >= 2, $"{stage}: {record.Candidates.Count} candidates");
            Assert.All(record.Candidates.Where(c => !c.Baseline), c => Assert.Equal(record.Prompts, c.Wins + c.Ties + c.Losses + c.Invalid));
            Assert.Contains($"{stage}: checkpoint selection: step {record.ChosenStep} of", log.ToString());
            // Scored verdicts: each answer judged judge_samples times, the higher mean wins, an unscored answer makes the prompt invalid.
            foreach (string verdicts in Directory.GetFiles(Path.Combine(folder, "train", model, "selection"), "*.verdicts.jsonl"))
                Assert.All(Jsonl.ReadAll<SelectionVerdict>(verdicts).Records, v =>
                {
                    Assert.Equal(2 * config.JudgeSamples, v.Judgments.Count);
                    var expected = v.ScoreA is not double a || v.ScoreB is not double b ? HeadToHeadOutcome.Invalid
                        : a > b ? HeadToHeadOutcome.Win : a < b ? HeadToHeadOutcome.Loss : HeadToHeadOutcome.Tie;
                    Assert.Equal(expected, v.Outcome);
                });
            Assert.False(Directory.Exists(Path.Combine(folder, "train", model, "candidates")));
            using var weights = SafetensorsFile.Open(Path.Combine(folder, "models", model, "model.safetensors"));
            Assert.All(weights.Tensors, t => Assert.Equal(SafetensorsDtype.BF16, t.Dtype));
        }
        // The SFT baseline's own last checkpoint judged it; Mt judged M(t+1)'s candidates.
        Assert.Contains("train/sft/candidates/step-", File.ReadAllText(Path.Combine(folder, "train", "sft", "selection.json")).Replace('\\', '/'));
        Assert.Equal("models/m1", JsonSerializer.Deserialize<SelectionRecord>(
            File.ReadAllText(Path.Combine(folder, "train", "m2", "selection.json")), Jsonl.Options)!.Judge.Replace('\\', '/'));
    }

    private static string Sha256(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
