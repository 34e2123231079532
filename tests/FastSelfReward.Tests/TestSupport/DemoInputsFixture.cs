using FastSelfReward.Compute;
using FastSelfReward.Demo;
using FastSelfReward.Reporting;
using FastSelfReward.SelfReward;

namespace FastSelfReward.Tests.TestSupport;

/// <summary>The test demo's data, tokenizer and M0, made once for a test class, and a run configuration over them (the test preset's).</summary>
public sealed class DemoInputsFixture : IDisposable
{
    public DemoInputsFixture()
    {
        Folder = Path.Combine(Path.GetTempPath(), "fsr-inputs-" + Guid.NewGuid().ToString("N"));
        using var kernels = new CpuKernels();
        var pipeline = new DemoPipeline(DemoPreset.Test, Folder, kernels, new PlainProgress(TextWriter.Null), TextWriter.Null);
        var files = pipeline.WriteData();
        pipeline.TrainTokenizer(files);
        pipeline.PretrainBaseModel(files, CancellationToken.None);
        File.WriteAllText(pipeline.JudgeTemplateFile, DemoPipeline.JudgeTemplateText);
        Config = DemoPreset.Test.Run with
        {
            BaseModel = pipeline.BaseModelFolder, Ift = files.Ift, Eft = files.EftTrain, ExcludePrompts = files.EvalPrompts,
            JudgeTemplate = pipeline.JudgeTemplateFile,
        };
    }

    public string Folder { get; }
    public RunConfig Config { get; }

    public string NewRunFolder() => Path.Combine(Folder, Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(Folder, recursive: true); }
        catch (IOException) { }
    }
}
