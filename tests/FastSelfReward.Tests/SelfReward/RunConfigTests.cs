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

    [Fact]
    public void A_run_json_of_the_version_before_loads_with_every_value_and_compares_equal_to_itself()
    {
        using var dir = new ScratchFolder();
        File.WriteAllText(dir.File("run.json"), VersionOneRunJson);
        var config = RunConfig.Load(dir.File("run.json"));

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
    [InlineData("\"max_grad_norm\": 1,\n    \"checkpoint_every\": 50\n  },\n  \"prompts\"", "\"max_grad_norm\": -1,\n    \"checkpoint_every\": 50\n  },\n  \"prompts\"", "dpo.max_grad_norm must be ≥ 0")]
    [InlineData("\"temperature\": 0.7,\n    \"top_p\": 0.9,\n    \"max_tokens\": 64", "\"temperature\": -1,\n    \"top_p\": 0.9,\n    \"max_tokens\": 64", "judge_sampling.temperature must be a finite value ≥ 0, got -1")]
    public void An_out_of_range_section_value_is_named_by_its_field(string find, string replace, string expected)
    {
        using var dir = new ScratchFolder();
        string text = VersionOneRunJson.Replace("\r\n", "\n");
        Assert.Contains(find, text);
        File.WriteAllText(dir.File("run.json"), text.Replace(find, replace));
        var error = Assert.Throws<InvalidDataException>(() => RunConfig.Load(dir.File("run.json")));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_null_section_is_named()
    {
        using var dir = new ScratchFolder();
        File.WriteAllText(dir.File("run.json"), """{"base_model": "m", "ift": "i", "eft": "e", "sft": null}""");
        var error = Assert.Throws<InvalidDataException>(() => RunConfig.Load(dir.File("run.json")));
        Assert.Contains("sft: must be an object, not null", error.Message);
    }
}
