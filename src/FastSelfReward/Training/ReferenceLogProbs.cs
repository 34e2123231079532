using System.Text;
using System.Text.Json;
using FastSelfReward.Compute;
using FastSelfReward.Distributed;
using FastSelfReward.Model;

namespace FastSelfReward.Training;

/// <summary>
/// The frozen reference's answer log-prob sums for every pair, log π_ref(y | x) = Σ_{t ∈ y} log p(y_t | x, y_&lt;t),
/// computed once from the starting weights by the policy's own model object, kernels and precision,
/// and stored as an artifact of their own. DPO then needs no second copy of the model.
/// </summary>
/// <remarks>
/// The file is JSON lines: a header <c>{"format", "model_key", "pairs_hash", "pairs"}</c>, then one
/// line per pair <c>{"index", "chosen_logp", "rejected_logp"}</c> (sums, not means, so either
/// normalisation can be applied later). <see cref="ModelKey"/> digests the
/// weights, the configuration, the backend and precision and the tokenizer files; <see cref="PairsHash"/>
/// digests the pairs' token ids. The file is reused only when both match.
/// </remarks>
public sealed class ReferenceLogProbs
{
    /// <summary>The header's <c>format</c> value.</summary>
    public const string Format = "fsr-reference-logps";

    private ReferenceLogProbs(string modelKey, string pairsHash, double[] chosen, double[] rejected, bool fromFile)
    {
        ModelKey = modelKey;
        PairsHash = pairsHash;
        Chosen = chosen;
        Rejected = rejected;
        FromFile = fromFile;
    }

    public string ModelKey { get; }
    public string PairsHash { get; }

    /// <summary>log π_ref of each pair's chosen answer (a sum over its tokens).</summary>
    public IReadOnlyList<double> Chosen { get; }

    /// <summary>log π_ref of each pair's rejected answer (a sum over its tokens).</summary>
    public IReadOnlyList<double> Rejected { get; }

    /// <summary>True when loaded from an artifact rather than computed.</summary>
    public bool FromFile { get; }

    /// <summary>
    /// Loads <paramref name="path"/> when its keys match the model's current weights, the tokenizer
    /// files and the pairs; otherwise computes the log-probs from the current weights and writes
    /// them there (temporary name, then rename).
    /// </summary>
    /// <param name="path">The artifact file.</param>
    /// <param name="model">The reference = the policy before any update.</param>
    /// <param name="pairs">Every pair, held-out ones included.</param>
    /// <param name="tokenizerFiles">The tokenizer files the pairs were rendered with.</param>
    /// <param name="microBatchTokens">Token budget of one forward pass; null: every pair in one.</param>
    /// <param name="world">The ranks sharing the work (each scores its share, all get every value; rank 0 writes the file). Null: this process alone.</param>
    /// <exception cref="InvalidDataException">The file's keys match but its body is malformed.</exception>
    public static ReferenceLogProbs LoadOrCompute(string path, LlamaModel model, IReadOnlyList<PreferencePair> pairs,
        IEnumerable<string> tokenizerFiles, int? microBatchTokens, Communicator? world = null)
    {
        world ??= Communicator.Single;
        string modelKey = ComputeModelKey(model, tokenizerFiles);
        string pairsHash = ComputePairsHash(pairs);
        if (File.Exists(path) && Load(path, modelKey, pairsHash) is { } loaded) return loaded;
        var computed = Compute(model, pairs, modelKey, microBatchTokens, world);
        if (world.IsRoot) computed.Save(path);
        return computed;
    }

    /// <summary>Scores every pair under the model's current weights.</summary>
    public static ReferenceLogProbs Compute(LlamaModel model, IReadOnlyList<PreferencePair> pairs, string modelKey, int? microBatchTokens,
        Communicator? world = null)
    {
        using var _ = Nvtx.Range("reference logps");
        world ??= Communicator.Single;
        for (int i = 0; i < pairs.Count; i++) pairs[i].Validate(model.Config, i);
        var chosen = new double[pairs.Count];
        var rejected = new double[pairs.Count];
        // With several ranks each scores every N-th micro-batch and leaves the others' entries 0, so
        // the sum over ranks is every value exactly, and each value is the one a single rank computes
        // (a micro-batch is the same batch on any rank).
        var microBatches = StepPlan.Pack(Enumerable.Range(0, pairs.Count), i => pairs[i].Tokens, microBatchTokens);
        foreach (var microBatch in microBatches.Where((_, b) => b % world.Size == world.Rank))
        {
            var (c, r) = PairBatch.Score(model, [.. microBatch.Select(i => pairs[i])]);
            for (int j = 0; j < microBatch.Length; j++)
            {
                chosen[microBatch[j]] = c[j];
                rejected[microBatch[j]] = r[j];
            }
        }
        if (world.Size > 1)
        {
            world.AllReduceSum(chosen);
            world.AllReduceSum(rejected);
        }
        return new ReferenceLogProbs(modelKey, ComputePairsHash(pairs), chosen, rejected, fromFile: false);
    }

    /// <summary>The DPO examples of <paramref name="pairs"/>, each with its reference log-probs.</summary>
    /// <exception cref="ArgumentException">These log-probs were computed for other pairs.</exception>
    public IReadOnlyList<DpoExample> Examples(IReadOnlyList<PreferencePair> pairs)
    {
        if (PairsHash != ComputePairsHash(pairs)) throw new ArgumentException("the reference log-probs were computed for other pairs", nameof(pairs));
        return [.. pairs.Select((pair, i) => new DpoExample(pair, Chosen[i], Rejected[i]))];
    }

    /// <summary>
    /// Digest of what the reference's numbers depend on besides the pairs: backend, precision,
    /// configuration, every weight, and the tokenizer files (by name and contents, in the order given).
    /// </summary>
    public static string ComputeModelKey(LlamaModel model, IEnumerable<string> tokenizerFiles)
    {
        using var fingerprint = new Fingerprint("fsr-reference-model/1").Add(model.Kernels.Name).Add(model.Type.ToString()).AddJson(model.Config);
        var chunk = new double[1 << 16];
        foreach (var entry in model.Layout.Entries)
        {
            fingerprint.Add(entry.Name);
            for (long done = 0; done < entry.Count;)
            {
                int count = (int)Math.Min(chunk.Length, entry.Count - done);
                model.Kernels.Download(model.Parameters.Slice(entry.Offset + done, count), chunk.AsSpan(0, count));
                fingerprint.Add(chunk.AsSpan(0, count));
                done += count;
            }
        }
        foreach (string file in tokenizerFiles) fingerprint.AddFile(file);
        return fingerprint.Hex();
    }

    /// <summary>Digest of the pairs' token ids, in order.</summary>
    public static string ComputePairsHash(IReadOnlyList<PreferencePair> pairs)
    {
        using var fingerprint = new Fingerprint("fsr-reference-pairs/1").Add(pairs.Count);
        foreach (var pair in pairs) fingerprint.Add(pair.PromptIds).Add(pair.ChosenIds).Add(pair.RejectedIds);
        return fingerprint.Hex();
    }

    /// <summary>Writes the artifact to a temporary name in the same folder, then renames it over <paramref name="path"/>.</summary>
    public void Save(string path)
    {
        string temp = path + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                void Line(Action<Utf8JsonWriter> body)
                {
                    using (var json = new Utf8JsonWriter(stream))
                    {
                        json.WriteStartObject();
                        body(json);
                        json.WriteEndObject();
                    }
                    stream.WriteByte((byte)'\n');
                }
                Line(json =>
                {
                    json.WriteString("format", Format);
                    json.WriteString("model_key", ModelKey);
                    json.WriteString("pairs_hash", PairsHash);
                    json.WriteNumber("pairs", Chosen.Count);
                });
                for (int i = 0; i < Chosen.Count; i++)
                    Line(json =>
                    {
                        json.WriteNumber("index", i);
                        json.WriteNumber("chosen_logp", Chosen[i]);
                        json.WriteNumber("rejected_logp", Rejected[i]);
                    });
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>The artifact at <paramref name="path"/> when its keys are the given ones, else null.</summary>
    /// <exception cref="InvalidDataException">The header or a record is malformed; the message names file and line.</exception>
    public static ReferenceLogProbs? Load(string path, string modelKey, string pairsHash)
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        int lineNumber = 0;
        JsonElement Next()
        {
            string? line = reader.ReadLine();
            lineNumber++;
            if (line is null) throw new InvalidDataException($"{path}:{lineNumber}: the file ends early");
            try
            {
                using var document = JsonDocument.Parse(line);
                if (document.RootElement.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}:{lineNumber}: expected a JSON object");
                return document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}:{lineNumber}: not JSON ({e.Message})");
            }
        }
        JsonElement Field(JsonElement record, string name, JsonValueKind kind) =>
            record.TryGetProperty(name, out var value) && value.ValueKind == kind
                ? value
                : throw new InvalidDataException($"{path}:{lineNumber}: field '{name}' is missing or not a {kind}");

        var header = Next();
        if (Field(header, "format", JsonValueKind.String).GetString() != Format)
            throw new InvalidDataException($"{path}:1: format is not '{Format}'");
        if (Field(header, "model_key", JsonValueKind.String).GetString() != modelKey
            || Field(header, "pairs_hash", JsonValueKind.String).GetString() != pairsHash)
            return null;
        if (!Field(header, "pairs", JsonValueKind.Number).TryGetInt32(out int count) || count < 0)
            throw new InvalidDataException($"{path}:1: field 'pairs' is not a pair count");
        var chosen = new double[count];
        var rejected = new double[count];
        for (int i = 0; i < count; i++)
        {
            var record = Next();
            if (!Field(record, "index", JsonValueKind.Number).TryGetInt32(out int index) || index != i)
                throw new InvalidDataException($"{path}:{lineNumber}: field 'index' should be {i}");
            chosen[i] = Finite(Field(record, "chosen_logp", JsonValueKind.Number).GetDouble(), "chosen_logp");
            rejected[i] = Finite(Field(record, "rejected_logp", JsonValueKind.Number).GetDouble(), "rejected_logp");
        }
        if (reader.ReadLine() is { Length: > 0 }) throw new InvalidDataException($"{path}:{lineNumber + 1}: more records than the header's {count} pairs");
        return new ReferenceLogProbs(modelKey, pairsHash, chosen, rejected, fromFile: true);

        double Finite(double value, string name) => double.IsFinite(value) && value <= 0
            ? value
            : throw new InvalidDataException($"{path}:{lineNumber}: field '{name}' is {value}, not a log-probability");
    }
}
