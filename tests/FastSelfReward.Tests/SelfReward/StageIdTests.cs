using FastSelfReward.SelfReward;

namespace FastSelfReward.Tests.SelfReward;

public sealed class StageIdTests
{
    [Fact]
    public void A_run_of_two_iterations_has_thirteen_stages_in_order_under_their_manifest_names()
    {
        Assert.Equal(
            ["sft", "eft", "m1", "iter1/prompts", "iter1/candidates", "iter1/judgments", "iter1/pairs", "iter1/dpo",
             "iter2/prompts", "iter2/candidates", "iter2/judgments", "iter2/pairs", "iter2/dpo"],
            StageId.All(2).Select(s => s.Name));
        var dpo = new StageId(StageKind.Dpo, 2);
        Assert.Equal(("iter2", "m2"), (dpo.Folder, dpo.Model));
        Assert.Equal(new StageId(StageKind.Dpo, 2), dpo);
        Assert.NotEqual(new StageId(StageKind.Dpo, 1), dpo);
    }

    [Theory]
    [InlineData(StageKind.Sft, 1)]
    [InlineData(StageKind.Prompts, 0)]
    [InlineData(StageKind.Dpo, -1)]
    public void A_setup_stage_has_no_iteration_and_an_iteration_stage_needs_one(StageKind kind, int iteration) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new StageId(kind, iteration));

    [Theory]
    [InlineData("sft")]
    [InlineData("m1")]
    [InlineData("iter1/prompts")]
    [InlineData("iter12/dpo")]
    public void A_stage_name_parses_back_to_its_stage(string name) => Assert.Equal(name, StageId.Parse(name).Name);

    [Theory]
    [InlineData("")]
    [InlineData("SFT")]
    [InlineData("iter1/sft")]
    [InlineData("iter0/dpo")]
    [InlineData("prompts")]
    [InlineData("iter1/3")]
    [InlineData("iterx/pairs")]
    [InlineData("iter1/pairs/x")]
    public void Anything_else_is_no_stage(string name) =>
        Assert.Contains("is not a stage", Assert.Throws<ArgumentException>(() => StageId.Parse(name)).Message);
}
