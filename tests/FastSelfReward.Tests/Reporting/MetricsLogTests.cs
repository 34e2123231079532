using System.Text.Json;
using FastSelfReward.Reporting;
using FastSelfReward.Tests.Checkpoints;

namespace FastSelfReward.Tests.Reporting;

public class MetricsLogTests
{
    [Fact]
    public void AppendsOneFlushedObjectPerLine()
    {
        using var dir = new ScratchFolder();
        string path = Path.Combine(dir.Path, "run", "metrics.jsonl");
        using (var log = MetricsLog.Open(path))
        {
            log.Write(1, [new("loss", 2.5), new("lr", 1e-3)]);
            // Flushed per line: another reader sees the record while the log is still open.
            using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
            Assert.StartsWith("{\"step\":1,\"loss\":2.5,\"lr\":0.001,\"time\":\"", reader.ReadLine());
        }
        using (var log = MetricsLog.Open(path))
            log.Write(2, [new("rewards/chosen", double.NaN)]);

        string[] lines = File.ReadAllLines(path);
        Assert.Equal(2, lines.Length);
        using var second = JsonDocument.Parse(lines[1]);
        Assert.Equal(2, second.RootElement.GetProperty("step").GetInt64());
        Assert.Equal(JsonValueKind.Null, second.RootElement.GetProperty("rewards/chosen").ValueKind);
        Assert.True(DateTimeOffset.TryParse(second.RootElement.GetProperty("time").GetString(), out _));
    }

    [Fact]
    public void ReservedNamesAreRejected()
    {
        using var dir = new ScratchFolder();
        using var log = MetricsLog.Open(dir.File("m.jsonl"));
        Assert.Throws<ArgumentException>(() => log.Write(1, [new("step", 1)]));
    }
}
