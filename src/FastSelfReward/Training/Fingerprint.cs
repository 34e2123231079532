using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace FastSelfReward.Training;

/// <summary>
/// SHA-256 digests that key artifacts and checkpoints to what produced them: configuration records
/// (as JSON), token ids, numbers and files, each appended with its length so that concatenations
/// cannot collide.
/// </summary>
public sealed class Fingerprint : IDisposable
{
    private readonly IncrementalHash _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

    public Fingerprint(string purpose) => Add(purpose);

    public Fingerprint Add(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        Add(bytes.Length);
        _hash.AppendData(bytes);
        return this;
    }

    public Fingerprint Add(long value)
    {
        Span<byte> bytes = stackalloc byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
        _hash.AppendData(bytes);
        return this;
    }

    public Fingerprint Add(ReadOnlySpan<int> ids)
    {
        Add(ids.Length);
        _hash.AppendData(MemoryMarshal.AsBytes(ids));
        return this;
    }

    public Fingerprint Add(ReadOnlySpan<bool> flags)
    {
        Add(flags.Length);
        _hash.AppendData(MemoryMarshal.AsBytes(flags));
        return this;
    }

    public Fingerprint Add(ReadOnlySpan<double> values)
    {
        Add(values.Length);
        _hash.AppendData(MemoryMarshal.AsBytes(values));
        return this;
    }

    /// <summary>A record's public properties as JSON (enums as numbers, nested records included).</summary>
    public Fingerprint AddJson<T>(T value) => Add(JsonSerializer.Serialize(value));

    /// <summary>A file's name (not its folder) and contents.</summary>
    public Fingerprint AddFile(string path)
    {
        Add(Path.GetFileName(path));
        using var stream = File.OpenRead(path);
        Add(stream.Length);
        _hash.AppendData(SHA256.HashData(stream));
        return this;
    }

    /// <summary>The digest in lower-case hex.</summary>
    public string Hex() => Convert.ToHexStringLower(_hash.GetHashAndReset());

    public void Dispose() => _hash.Dispose();
}
