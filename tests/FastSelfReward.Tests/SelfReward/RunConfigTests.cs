using FastSelfReward.Compute;
using FastSelfReward.SelfReward;
using FastSelfReward.Tests.Checkpoints;

namespace FastSelfReward.Tests.SelfReward;

public sealed class RunConfigTests
{
    /// <summary>The run.json the quick demo wrote before the trainers took the run configuration's sections as their options (paths replaced).</summary>
    private const string VersionOneRunJson = """
{
  "base_model": "/runs/demo/m0",
  "template": "auto",
  "ift": "/runs/demo/data/ift.jsonl",
  "eft": "/runs/demo/data/eft_train.jsonl",
  "eft_mode": "gold",
  "exclude_prompts": "/runs/demo/data/eval_prompts.jsonl",
  "judge_template": "/runs/demo/judge_template.txt",
  "seed": 1,
  "iterations": 2,
  "generation_rows": 64,
  "generation_batch": 16,
  "sft": {
    "learning_rate": 0.001,
    "min_learning_rate": 0.0001,
    "warmup_steps": 20,
    "epochs": 3,
    "examples_per_step": 16,
    "micro_batch_tokens": 4096,
    "eval_fraction": 0.05,
    "weight_decay": 0,
    "max_grad_norm": 1,
    "checkpoint_every": 50
  },
  "dpo": {
    "learning_rate": 0.0002,
    "min_learning_rate": 2E-05,
    "warmup_steps": 0,
    "epochs": 3,
    "pairs_per_step": 8,
    "micro_batch_tokens": 4096,
    "beta": 0.1,
    "loss": "sigmoid",
    "label_smoothing": 0,
    "length_normalize": false,
    "held_out_fraction": 0.05,
    "weight_decay": 0,
    "max_grad_norm": 1,
    "checkpoint_every": 50
  },
  "prompts": {
    "count": 48,
    "max_attempts_per_prompt": 10,
    "shots": 8,
    "min_words": 2,
    "max_words": 150,
    "max_rouge_l": 1,
    "prompt_model": null,
    "sampling": {
      "temperature": 0.6,
      "top_p": 0.9,
      "max_tokens": 32
    }
  },
  "candidates": 4,
  "candidate_sampling": {
    "temperature": 0.7,
    "top_p": 0.9,
    "max_tokens": 48
  },
  "judge_samples": 3,
  "judge_sampling": {
    "temperature": 0.7,
    "top_p": 0.9,
    "max_tokens": 64
  }
}
""";

    /// <summary>
    /// Writes <see cref="VersionOneRunJson"/> (edited by <paramref name="edit"/>) into a scratch
    /// folder whose base model, data and template files exist, and returns the file's path.
    /// </summary>
    private static string WriteRun(ScratchFolder dir, Func<string, string>? edit = null)
    {
        foreach (string file in new[] { "m0/config.json", "data/ift.jsonl", "data/eft_train.jsonl", "data/eval_prompts.jsonl", "judge_template.txt" })
        {
            Directory.CreateDirectory(Path.GetDirectoryName(dir.File(file))!);
            File.WriteAllText(dir.File(file), "{}");
        }
        string text = VersionOneRunJson.Replace("\r\n", "\n").Replace("/runs/demo", dir.Path);
        File.WriteAllText(dir.File("run.json"), edit is null ? text : edit(text));
        return dir.File("run.json");
    }

    /// <summary>The 1-based number of the first line of the file that contains <paramref name="needle"/>.</summary>
    private static int LineOf(string path, string needle) =>
        File.ReadAllLines(path).Select((line, i) => (line, i)).First(l => l.line.Contains(needle, StringComparison.Ordinal)).i + 1;

    private static string LoadError(string path)
    {
        string message = Assert.Throws<InvalidDataException>(() => RunConfig.Load(path)).Message;
        // Words, not .NET: no type names, no reader positions.
        Assert.DoesNotContain("System.", message);
        Assert.DoesNotContain("LineNumber", message);
        Assert.DoesNotContain(".NET", message);
        return message;
    }

    [Fact]
    public void A_run_json_of_the_version_before_loads_with_every_value_and_compares_equal_to_itself()
    {
        using var dir = new ScratchFolder();
        var config = RunConfig.Load(WriteRun(dir));

        Assert.Equal(1e-3, config.Sft.LearningRate);
        Assert.Equal(1e-4, config.Sft.MinLearningRate);
        Assert.Equal(20, config.Sft.WarmupSteps);
        Assert.Equal(3, config.Sft.Epochs);
        Assert.Equal(4096, config.Sft.MicroBatchTokens);
        Assert.Equal(0.05, config.Sft.EvalFraction);
        Assert.Equal(8, config.Sft.BucketSteps); // not in the old file: its one default
        Assert.Equal(2e-5, config.Dpo.MinLearningRate);
        Assert.Equal(8, config.Dpo.PairsPerStep);
        Assert.Equal(DpoLossKind.Sigmoid, config.Dpo.Loss);
        Assert.Equal(0.05, config.Dpo.HeldOutFraction);
        Assert.Equal(32, config.Prompts.Sampling.MaxTokens);
        Assert.Equal(0.6, config.Prompts.Sampling.Temperature);
        Assert.Equal(48, config.CandidateSampling.MaxTokens);
        Assert.Equal(64, config.JudgeSampling.MaxTokens);

        // What a resumed run compares: the stored file against a configuration that says the same.
        File.WriteAllText(dir.File("again.json"), config.ToJson());
        Assert.Empty(RunConfig.Load(dir.File("again.json")).DifferencesFrom(config));
        Assert.DoesNotContain("\"seed\": 0", config.ToJson());
        Assert.Equal(["dpo.beta"], config.DifferencesFrom(config with { Dpo = config.Dpo with { Beta = 0.2 } }));
    }

    [Theory]
    [InlineData("\"learning_rate\": 0.001,", "\"learning_rate\": -1,", "sft.learning_rate must be positive, got -1")]
    [InlineData("\"warmup_steps\": 0,", "\"warmup_steps\": -5,", "dpo.warmup_steps must be ≥ 0, got -5")]
    [InlineData("\"max_grad_norm\": 1,\n    \"checkpoint_every\": 50\n  },\n  \"prompts\"", "\"max_grad_norm\": -1,\n    \"checkpoint_every\": 50\n  },\n  \"prompts\"", "dpo.max_grad_norm must be ≥ 0 (0: no clipping), got -1")]
    [InlineData("\"temperature\": 0.7,\n    \"top_p\": 0.9,\n    \"max_tokens\": 64", "\"temperature\": -1,\n    \"top_p\": 0.9,\n    \"max_tokens\": 64", "judge_sampling.temperature must be a finite value ≥ 0, got -1")]
    [InlineData("\"held_out_fraction\": 0.05,", "\"held_out_fraction\": 1.5,", "dpo.held_out_fraction must lie in [0, 1), got 1.5")]
    [InlineData("\"max_rouge_l\": 1,", "\"max_rouge_l\": 0,", "prompts.max_rouge_l must lie in (0, 1], got 0")]
    [InlineData("\"candidates\": 4,", "\"candidates\": 1,", "candidates must be at least 2 (two answers form a pair), got 1")]
    public void An_out_of_range_value_is_named_by_its_field_and_line(string find, string replace, string expected)
    {
        var (path, line, message) = LoadErrorAfter(find, replace);
        Assert.Equal($"{path}:{line}: {expected}", message);
    }

    [Fact]
    public void Every_mistake_is_reported_at_once_each_with_its_line()
    {
        using var dir = new ScratchFolder();
        string path = WriteRun(dir, text => text
            .Replace("\"learning_rate\": 0.001,", "\"learning_rate\": -1,")
            .Replace("\"warmup_steps\": 0,", "\"warmup_steps\": -5,")
            .Replace("\"max_tokens\": 48", "\"max_tokens\": 0")
            .Replace("\"iterations\": 2,", "\"iterations\": -1,"));
        string message = LoadError(path);
        Assert.StartsWith($"{path}: 4 mistakes:", message);
        Assert.Contains($"{path}:{LineOf(path, "\"iterations\"")}: iterations must be ≥ 0, got -1", message);
        Assert.Contains($"{path}:{LineOf(path, "\"learning_rate\": -1")}: sft.learning_rate must be positive, got -1", message);
        Assert.Contains($"{path}:{LineOf(path, "\"warmup_steps\": -5")}: dpo.warmup_steps must be ≥ 0, got -5", message);
        Assert.Contains($"{path}:{LineOf(path, "\"max_tokens\": 0")}: candidate_sampling.max_tokens must be positive, got 0", message);
    }

    [Theory]
    [InlineData("\"epochs\": 3,", "\"epochs\": \"three\",", "sft.epochs must be a whole number, not \"three\"")]
    [InlineData("\"epochs\": 3,", "\"epochs\": 1.5,", "sft.epochs must be a whole number, not 1.5")]
    [InlineData("\"beta\": 0.1,", "\"beta\": \"0.1\",", "dpo.beta must be a number, not \"0.1\"")]
    [InlineData("\"length_normalize\": false,", "\"length_normalize\": \"no\",", "dpo.length_normalize must be true or false, not \"no\"")]
    [InlineData("\"loss\": \"sigmoid\",", "\"loss\": \"hinge\",", "dpo.loss must be one of sigmoid, ipo, robust, not \"hinge\"")]
    [InlineData("\"eft_mode\": \"gold\",", "\"eft_mode\": 1,", "eft_mode must be one of gold, model, not 1")]
    [InlineData("\"sft\": {", "\"sft\": null, \"sft_old\": {", "sft must be an object, not null")]
    [InlineData("\"template\": \"auto\",", "\"template\": null,", "template must have a value, not null")]
    [InlineData("\"learning_rate\": 0.001,", "\"lerning_rate\": 0.001,", "sft.lerning_rate is not a setting of sft; the settings here are ")]
    [InlineData("\"seed\": 1,", "\"sed\": 1,", "sed is not a setting; the settings here are base_model, template, ift, eft")]
    public void A_value_of_the_wrong_kind_or_an_unknown_field_is_named_in_words_with_its_line(string find, string replace, string expected)
    {
        var (path, line, message) = LoadErrorAfter(find, replace);
        Assert.Contains($"{path}:{line}: {expected}", message);
    }

    /// <summary>The load error of the version-one run.json with <paramref name="find"/> replaced, and the line of the replacement.</summary>
    private static (string Path, int Line, string Message) LoadErrorAfter(string find, string replace)
    {
        using var dir = new ScratchFolder();
        string path = WriteRun(dir, text =>
        {
            Assert.Contains(find, text);
            return text.Replace(find, replace);
        });
        return (path, LineOf(path, replace.Split('\n')[0]), LoadError(path));
    }

    [Fact]
    public void Checkpoint_selection_is_off_and_models_are_float32_in_a_run_json_without_them()
    {
        using var dir = new ScratchFolder();
        var config = RunConfig.Load(WriteRun(dir));
        Assert.Equal(0, config.CheckpointSelection.SftEvery);
        Assert.Equal(0, config.CheckpointSelection.DpoEvery);
        Assert.Equal(ModelDtype.Float32, config.ModelDtype);

        string path = WriteRun(dir, text => text.Replace("\"seed\": 1,", """
            "seed": 1,
            "model_dtype": "bfloat16",
            "checkpoint_selection": { "dpo_every": 200, "against": "initial", "verdicts": "scores", "prompts": "data/eval_prompts.jsonl", "judge": "m0", "max_prompts": 50 },
            """));
        var selection = RunConfig.Load(path);
        Assert.Equal(ModelDtype.Bfloat16, selection.ModelDtype);
        Assert.Equal(200, selection.CheckpointSelection.DpoEvery);
        Assert.Equal(SelectionBaseline.Initial, selection.CheckpointSelection.Against);
        Assert.Equal(SelectionVerdicts.Scores, selection.CheckpointSelection.Verdicts);
        Assert.Equal(dir.File("data/eval_prompts.jsonl"), selection.CheckpointSelection.Prompts);
        Assert.Equal(dir.File("m0"), selection.CheckpointSelection.Judge);
        Assert.Equal(1024, selection.CheckpointSelection.Sampling.MaxTokens);
        Assert.Equal(0, selection.CheckpointSelection.JudgeSampling.Temperature);
    }

    [Fact]
    public void Checkpoint_selection_without_prompts_to_select_with_or_with_a_missing_judge_is_named()
    {
        using var dir = new ScratchFolder();
        string path = WriteRun(dir, text => text
            .Replace("\"eval_fraction\": 0.05,", "\"eval_fraction\": 0,")
            .Replace("\"seed\": 1,", "\"seed\": 1,\n  \"checkpoint_selection\": { \"sft_every\": 100, \"dpo_every\": -1, \"judge\": \"nowhere\", \"max_prompts\": 0 },"));
        string message = LoadError(path);
        int line = LineOf(path, "\"checkpoint_selection\"");
        Assert.Contains($"{path}:{line}: checkpoint_selection.sft_every needs held-out prompts: set sft.eval_fraction above 0 or checkpoint_selection.prompts", message);
        Assert.Contains($"{path}:{line}: checkpoint_selection.dpo_every must be ≥ 0 (0: no selection), got -1", message);
        Assert.Contains($"{path}:{line}: checkpoint_selection.max_prompts must be at least 1, got 0", message);
        Assert.Contains($"checkpoint_selection.judge names {dir.File("nowhere")}, which is not a checkpoint folder (no config.json)", message);
    }

    [Fact]
    public void A_file_that_is_not_json_is_named_with_its_line()
    {
        using var dir = new ScratchFolder();
        string path = WriteRun(dir, text => text.Replace("\"iterations\": 2,", "\"iterations\": 2,,"));
        Assert.StartsWith($"{path}:{LineOf(path, "\"iterations\"")}: the file is not valid JSON: ", LoadError(path));
        File.WriteAllText(path, "[1, 2]");
        Assert.Equal($"{path}:1: the file must hold one JSON object, not a list", LoadError(path));
    }

    [Fact]
    public void Files_and_folders_that_do_not_exist_are_named_by_their_field()
    {
        using var dir = new ScratchFolder();
        string path = WriteRun(dir);
        File.Delete(dir.File("data/ift.jsonl"));
        File.Delete(dir.File("m0/config.json"));
        string message = LoadError(path);
        Assert.Contains($"{path}:{LineOf(path, "\"ift\"")}: ift names {dir.File("data/ift.jsonl")}, which does not exist", message);
        Assert.Contains($"{path}:{LineOf(path, "\"base_model\"")}: base_model names {dir.File("m0")}, which has no config.json", message);
    }

    [Fact]
    public void A_missing_required_field_is_named_without_a_line()
    {
        using var dir = new ScratchFolder();
        File.WriteAllText(dir.File("run.json"), "{\"ift\": \"i\"}");
        string message = LoadError(dir.File("run.json"));
        Assert.Contains($"{dir.File("run.json")}: base_model is required (a checkpoint folder)", message);
        Assert.Contains($"{dir.File("run.json")}: eft is required (ranked EFT JSONL)", message);
    }
}
