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
        Config = Write(Folder);
    }

    /// <summary>Writes the test demo's data, tokenizer, M0 and judge template into <paramref name="folder"/>; returns the test preset's run configuration over them.</summary>
    public static RunConfig Write(string folder)
    {
        using var kernels = new CpuKernels();
        var pipeline = new DemoPipeline(DemoPreset.Test, folder, kernels, new PlainProgress(TextWriter.Null), TextWriter.Null);
        var files = pipeline.WriteData();
        pipeline.TrainTokenizer(files);
        pipeline.PretrainBaseModel(files, CancellationToken.None);
        File.WriteAllText(pipeline.JudgeTemplateFile, DemoPipeline.JudgeTemplateText);
        return DemoPreset.Test.Run with
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
