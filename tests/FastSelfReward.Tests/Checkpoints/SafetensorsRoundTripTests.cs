using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using FastSelfReward.Checkpoints;

namespace FastSelfReward.Tests.Checkpoints;

public class SafetensorsRoundTripTests
{
    private static readonly float[] Values = [0f, -0f, 1f, -2.5f, 3.14159265f, 1e-8f, 65504f, -1e30f, float.PositiveInfinity, 0.1f, 7f, -0.333f];

    private static TensorToSave[] Sample() =>
    [
        TensorToSave.FromMemory("model.layers.0.mlp.up_proj.weight", [3, 4], Values),
        TensorToSave.FromMemory("model.embed_tokens.weight", [2, 2], new float[] { 1.5f, -1.5f, 2f, 4f }),
        TensorToSave.FromMemory("scalar", [], new float[] { 42.25f }),
        TensorToSave.FromMemory("empty", [0, 5], Array.Empty<float>()),
    ];

    [Fact]
    public void F32RoundTripIsBitExact()
    {
        using var dir = new ScratchFolder();
        string path = dir.File("model.safetensors");
        SafetensorsWriter.Write(path, Sample(), metadata: new Dictionary<string, string> { ["format"] = "pt", ["note"] = "ünïcode" });

        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal("pt", file.Metadata["format"]);
        Assert.Equal("ünïcode", file.Metadata["note"]);
        Assert.True(file.TryGetTensor("model.layers.0.mlp.up_proj.weight", out var info));
        Assert.Equal(SafetensorsDtype.F32, info.Dtype);
        Assert.Equal([3L, 4L], info.Shape);
        var read = new float[12];
        file.ReadFloat32(info.Name, read);
        Assert.Equal(Values.Select(BitConverter.SingleToInt32Bits), read.Select(BitConverter.SingleToInt32Bits));

        var scalar = new float[1];
        file.ReadFloat32("scalar", scalar);
        Assert.Equal(42.25f, scalar[0]);
        Assert.True(file.TryGetTensor("scalar", out var s) && s.Shape.Count == 0 && s.ElementCount == 1);
        Assert.True(file.TryGetTensor("empty", out var e) && e.ElementCount == 0 && e.ByteLength == 0);
        file.ReadFloat32("empty", Span<float>.Empty);
    }

    [Fact]
    public void WriterPadsHeaderAndSortsByName()
    {
        using var dir = new ScratchFolder();
        string path = dir.File("m.safetensors");
        SafetensorsWriter.Write(path, Sample());
        byte[] bytes = File.ReadAllBytes(path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, n % 8);
        string header = Encoding.UTF8.GetString(bytes, 8, (int)n);
        Assert.EndsWith("}", header.TrimEnd(' '));
        using JsonDocument doc = JsonDocument.Parse(header);
        string[] names = doc.RootElement.EnumerateObject().Select(p => p.Name).ToArray();
        Assert.Equal(["empty", "model.embed_tokens.weight", "model.layers.0.mlp.up_proj.weight", "scalar"], names);
        Assert.Equal([0L, 0L], doc.RootElement.GetProperty("empty").GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()));
        Assert.Equal([0L, 16L], doc.RootElement.GetProperty("model.embed_tokens.weight").GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt64()));
        Assert.False(File.Exists(path + ".tmp-" + Environment.ProcessId));
    }

    [Theory]
    [InlineData(SafetensorsDtype.BF16)]
    [InlineData(SafetensorsDtype.F16)]
    public void HalfPrecisionRoundTripsRepresentableValuesExactly(SafetensorsDtype dtype)
    {
        // Values exactly representable in both bf16 and f16 survive unchanged.
        float[] exact = [0f, 1f, -2.5f, 0.125f, 3f, -1024f, 0.5f, 96f];
        using var dir = new ScratchFolder();
        string path = dir.File("h.safetensors");
        SafetensorsWriter.Write(path,
            [TensorToSave.FromMemory("w", [2, 4], exact), TensorToSave.FromMemory("s", [], new float[] { -3f })], dtype);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.True(file.TryGetTensor("w", out var info));
        Assert.Equal(dtype, info.Dtype);
        Assert.Equal(16, info.ByteLength);
        var read = new float[8];
        file.ReadFloat32("w", read);
        Assert.Equal(exact, read);
        var s = new float[1];
        file.ReadFloat32("s", s);
        Assert.Equal(-3f, s[0]);
    }

    [Fact]
    public void Bf16RoundsToNearestEvenAndKeepsNaN()
    {
        // 1 + 2^-8 is halfway between two bf16 values; ties go to the even mantissa (1.0).
        Assert.Equal(0x3F80, SafetensorsWriter.ToBFloat16(1f + 1f / 256));
        // 1 + 3·2^-8 is halfway too; the even neighbour is 1 + 2^-6.
        Assert.Equal(0x3F82, SafetensorsWriter.ToBFloat16(1f + 3f / 256));
        Assert.Equal(0x3F81, SafetensorsWriter.ToBFloat16(1f + 1.4f / 128));
        Assert.True(float.IsNaN(BitConverter.Int32BitsToSingle(SafetensorsWriter.ToBFloat16(float.NaN) << 16)));
        Assert.Equal(0x7F80, SafetensorsWriter.ToBFloat16(float.PositiveInfinity));
    }

    [Fact]
    public void ReadsASliceOfALargeTensorInChunks()
    {
        // Larger than the converter's staging chunk, so the chunk loop and offsets are exercised.
        const int n = (1 << 18) * 2 + 123;
        float[] data = Enumerable.Range(0, n).Select(i => (float)(i % 256)).ToArray(); // exact in bf16
        using var dir = new ScratchFolder();
        string path = dir.File("big.safetensors");
        SafetensorsWriter.Write(path, [TensorToSave.FromMemory("big", [n], data)], SafetensorsDtype.BF16);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        var all = new float[n];
        file.ReadFloat32("big", all);
        Assert.Equal(data, all);
        var part = new float[300_000];
        file.ReadFloat32("big", 200_001, part);
        Assert.Equal(data.AsSpan(200_001, 300_000).ToArray(), part);
        Assert.Throws<ArgumentOutOfRangeException>(() => file.ReadFloat32("big", n - 10, new float[11]));
        Assert.Throws<ArgumentException>(() => file.ReadFloat32("big", new float[n - 1]));
    }

    [Fact]
    public void ReadingAnIntegerTensorAsFloatIsAClearError()
    {
        using var dir = new ScratchFolder();
        string path = dir.File("i.safetensors");
        HostileSafetensorsTests.WriteRaw(path, """{"ids":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}""", 8);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        var e = Assert.Throws<InvalidDataException>(() => file.ReadFloat32("ids", new float[2]));
        Assert.Contains("'ids' is I32", e.Message);
        Assert.Throws<KeyNotFoundException>(() => file.ReadFloat32("nope", new float[2]));
    }
}
