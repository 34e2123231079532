using System.Buffers.Binary;
using System.Text;
using FastSelfReward.Checkpoints;

namespace FastSelfReward.Tests.Checkpoints;

/// <summary>Malformed files: each must be a one-line error naming the file (and tensor), never a crash.</summary>
public class HostileSafetensorsTests
{
    /// <summary>Writes an 8-byte length, the header text, then <paramref name="dataBytes"/> zero bytes.</summary>
    internal static void WriteRaw(string path, string header, int dataBytes, ulong? claimedLength = null)
    {
        byte[] h = Encoding.UTF8.GetBytes(header);
        var bytes = new byte[8 + h.Length + dataBytes];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, claimedLength ?? (ulong)h.Length);
        h.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
    }

    private static string OpenFails(string header, int dataBytes, ulong? claimedLength = null)
    {
        using var dir = new ScratchFolder();
        string path = dir.File("bad.safetensors");
        WriteRaw(path, header, dataBytes, claimedLength);
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.StartsWith(path + ": ", e.Message);
        return e.Message;
    }

    private const string Two = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""";

    [Fact]
    public void ValidBaselineOpens()
    {
        using var dir = new ScratchFolder();
        string path = dir.File("ok.safetensors");
        WriteRaw(path, Two + "   ", 12);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(["a", "b"], file.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void KeyOrderNeedNotMatchDataOrder()
    {
        // The reference validates offsets after sorting by them, not in JSON key order.
        using var dir = new ScratchFolder();
        string path = dir.File("ok.safetensors");
        WriteRaw(path, """{"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 12);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Equal(["a", "b"], file.Tensors.Select(t => t.Name));
    }

    [Fact]
    public void FileShorterThanLengthPrefix()
    {
        using var dir = new ScratchFolder();
        string path = dir.File("tiny.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path));
        Assert.Contains("shorter than the 8-byte header length", e.Message);
    }

    [Fact]
    public void HeaderLengthLargerThanFile() =>
        Assert.Contains("runs past the end", OpenFails(Two, 12, claimedLength: 5000));

    [Fact]
    public void HeaderLengthOverTheLimit() =>
        Assert.Contains("exceeds the limit of 100000000", OpenFails(Two, 12, claimedLength: 100_000_001));

    [Fact]
    public void HugeHeaderLengthDoesNotOverflow() =>
        Assert.Contains("exceeds the limit", OpenFails(Two, 12, claimedLength: ulong.MaxValue));

    [Fact]
    public void TruncatedData() => Assert.Contains("truncated", OpenFails(Two, 10));

    [Fact]
    public void TrailingBytes() => Assert.Contains("4 bytes after the last tensor", OpenFails(Two, 16));

    [Fact]
    public void InvalidJson() => Assert.Contains("not valid UTF-8 JSON", OpenFails("""{"a":{"dtype":"F32",""", 0));

    [Fact]
    public void InvalidUtf8()
    {
        using var dir = new ScratchFolder();
        string path = dir.File("bad.safetensors");
        byte[] header = [(byte)'{', (byte)'"', 0xFF, (byte)'"', (byte)':', (byte)'1', (byte)'}', (byte)' '];
        var bytes = new byte[8 + header.Length];
        bytes[0] = (byte)header.Length;
        header.CopyTo(bytes, 8);
        File.WriteAllBytes(path, bytes);
        var e = Assert.Throws<InvalidDataException>(() => SafetensorsFile.Open(path));
        Assert.Contains("not valid UTF-8 JSON", e.Message);
    }

    [Theory]
    [InlineData("[1,2]")]
    [InlineData("\"text\"")]
    [InlineData("42")]
    public void NonObjectJson(string header) => Assert.Contains("must be a JSON object", OpenFails(header, 0));

    [Fact]
    public void EntryNotAnObject() => Assert.Contains("tensor 'a': entry must be an object", OpenFails("""{"a":[1]}""", 0));

    [Fact]
    public void OverlappingOffsets() =>
        Assert.Contains("tensor 'b': data offsets [4, 8] overlap",
            OpenFails("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8));

    [Fact]
    public void GapBetweenTensors() =>
        Assert.Contains("tensor 'b': data offsets [12, 16] leave a gap; expected it to begin at 8",
            OpenFails("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[12,16]}}""", 16));

    [Fact]
    public void NotStartingAtZero() =>
        Assert.Contains("tensor 'a': data offsets [4, 12] leave a gap; expected it to begin at 0",
            OpenFails("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12));

    [Fact]
    public void ReversedOffsets() =>
        Assert.Contains("tensor 'b': data offsets [8, 4] end before they begin",
            OpenFails("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}""", 12));

    [Fact]
    public void OffsetsPastTheEnd() =>
        Assert.Contains("truncated: tensors need 4000000012 data bytes",
            OpenFails("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1000000001],"data_offsets":[8,4000000012]}}""", 12));

    [Fact]
    public void SizeDoesNotMatchShape() =>
        Assert.Contains("tensor 'a': F32 [3] needs 12 bytes but data offsets [0, 8] span 8",
            OpenFails("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8));

    [Fact]
    public void NegativeDimension() =>
        Assert.Contains("tensor 'a': shape dimension 1 must be a non-negative integer, got -2",
            OpenFails("""{"a":{"dtype":"F32","shape":[2,-2],"data_offsets":[0,8]}}""", 8));

    [Fact]
    public void DimensionBeyond64Bits() =>
        Assert.Contains("shape dimension 0 must be a non-negative integer, got 99999999999999999999",
            OpenFails("""{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}""", 8));

    [Fact]
    public void FractionalDimension() =>
        Assert.Contains("shape dimension 0 must be a non-negative integer, got 2.5",
            OpenFails("""{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}""", 8));

    [Fact]
    public void ShapeProductOverflows() =>
        Assert.Contains("tensor 'a': shape [4294967296, 4294967296, 4] has more elements than a file can hold",
            OpenFails("""{"a":{"dtype":"F32","shape":[4294967296,4294967296,4],"data_offsets":[0,8]}}""", 8));

    [Fact]
    public void ByteCountOverflows() =>
        Assert.Contains("has more elements than a file can hold",
            OpenFails("""{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}""", 8));

    [Fact]
    public void UnknownDtype() =>
        Assert.Contains("tensor 'a': unknown dtype 'F33'", OpenFails("""{"a":{"dtype":"F33","shape":[2],"data_offsets":[0,8]}}""", 8));

    [Fact]
    public void DtypeIsCaseSensitive() =>
        Assert.Contains("unknown dtype 'f32'", OpenFails("""{"a":{"dtype":"f32","shape":[2],"data_offsets":[0,8]}}""", 8));

    [Fact]
    public void DuplicateNames() =>
        Assert.Contains("tensor 'a' appears more than once",
            OpenFails("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", 8));

    [Fact]
    public void MissingFields()
    {
        Assert.Contains("tensor 'a': missing string field 'dtype'", OpenFails("""{"a":{"shape":[1],"data_offsets":[0,4]}}""", 4));
        Assert.Contains("tensor 'a': missing array field 'shape'", OpenFails("""{"a":{"dtype":"F32","data_offsets":[0,4]}}""", 4));
        Assert.Contains("tensor 'a': 'data_offsets' must be an array [begin, end]", OpenFails("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}""", 4));
        Assert.Contains("data offset begin must be a non-negative integer, got -4",
            OpenFails("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}""", 4));
    }

    [Fact]
    public void BadMetadata()
    {
        Assert.Contains("'__metadata__' entry 'n' must be a string", OpenFails("""{"__metadata__":{"n":1}}""", 0));
        Assert.Contains("'__metadata__' must be an object of strings", OpenFails("""{"__metadata__":"x"}""", 0));
    }

    [Fact]
    public void SubByteDtypeMustFillWholeBytes() =>
        Assert.Contains("does not fill a whole number of bytes", OpenFails("""{"a":{"dtype":"F4","shape":[3],"data_offsets":[0,2]}}""", 2));

    [Fact]
    public void EmptyHeader() => Assert.Contains("not valid UTF-8 JSON", OpenFails("", 0));

    [Fact]
    public void EmptyObjectIsAValidEmptyFile()
    {
        using var dir = new ScratchFolder();
        string path = dir.File("empty.safetensors");
        WriteRaw(path, "{}      ", 0);
        using SafetensorsFile file = SafetensorsFile.Open(path);
        Assert.Empty(file.Tensors);
    }
}
