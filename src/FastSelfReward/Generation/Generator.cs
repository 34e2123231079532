using FastSelfReward.Compute;
using FastSelfReward.Model;

namespace FastSelfReward.Generation;

/// <summary>
/// Batched generation with a paged KV cache. Prompts of different lengths are prefilled together as
/// one ragged batch; the samples of a prompt fork its cached prefix instead of recomputing it; then
/// every live row decodes one token per step until it produces a stop token or runs out of budget.
/// A row's tokens depend only on its prompt, the weights and its keyed random numbers, never on the
/// other rows of the batch.
/// </summary>
public sealed class Generator : IDisposable
{
    private readonly LlamaModel _model;
    private readonly HashSet<int> _stopTokens;
    private readonly int _blockSize;
    private readonly int _maxRows;
    private readonly GrowableBuffer _rowLogits, _probs, _uniforms, _sampled;
    private KvCache? _cache;

    /// <param name="model">The model to sample from.</param>
    /// <param name="stopTokens">End-of-sequence and end-of-turn ids; a sequence ends after producing one.</param>
    /// <param name="maxRows">Most sequences decoded at once (a batch of prompts is split to fit).</param>
    /// <param name="blockSize">Tokens per KV-cache block.</param>
    public Generator(LlamaModel model, IEnumerable<int> stopTokens, int maxRows = 64, int blockSize = 16)
    {
        if (maxRows <= 0) throw new ArgumentOutOfRangeException(nameof(maxRows), maxRows, "at least one row");
        _model = model;
        _stopTokens = [.. stopTokens];
        _maxRows = maxRows;
        _blockSize = blockSize;
        // Logits come out of the model wide (fp32 in a bf16 model), and a uniform needs more than
        // bf16's 8 bits to pick among thousands of tokens.
        _rowLogits = new(model.Kernels, model.Type.Wide());
        _probs = new(model.Kernels, model.Type.Wide());
        _uniforms = new(model.Kernels, model.Type.Wide());
        _sampled = new(model.Kernels, DType.I32);
    }

    /// <summary>Completes every request, returning its samples in request order, then sample order.</summary>
    public IReadOnlyList<GeneratedSequence> Generate(IReadOnlyList<GenerationRequest> requests, SamplingOptions options,
        Action<int>? onSequencesDone = null)
    {
        options.Validate();
        int maxPositions = _model.Config.MaxPositionEmbeddings;
        foreach (var request in requests)
        {
            if (request.Prompt.Count == 0) throw new ArgumentException($"record {request.RecordId}: empty prompt");
            if (request.Prompt.Count >= maxPositions)
                throw new ArgumentException($"record {request.RecordId}: prompt of {request.Prompt.Count} tokens leaves no room in a context of {maxPositions}");
            if (request.Samples <= 0 || request.Samples > _maxRows)
                throw new ArgumentException($"record {request.RecordId}: {request.Samples} samples (1..{_maxRows} allowed)");
        }
        var results = new List<GeneratedSequence>();
        var group = new List<GenerationRequest>();
        int rows = 0;
        foreach (var request in requests)
        {
            if (rows + request.Samples > _maxRows)
            {
                results.AddRange(GenerateGroup(group, options));
                onSequencesDone?.Invoke(rows);
                group.Clear();
                rows = 0;
            }
            group.Add(request);
            rows += request.Samples;
        }
        if (group.Count > 0)
        {
            results.AddRange(GenerateGroup(group, options));
            onSequencesDone?.Invoke(rows);
        }
        return results;
    }

    private List<GeneratedSequence> GenerateGroup(IReadOnlyList<GenerationRequest> group, SamplingOptions options)
    {
        using var _ = Nvtx.Range("generate");
        var config = _model.Config;
        int vocab = config.VocabSize;
        var cache = CacheFor(group, options);

        // Prefill every prompt once, as one ragged batch.
        var prompts = group.Select(_ => cache.NewSequence()).ToArray();
        var batch = TokenBatch.Pack(group.Select(r => r.Prompt).ToArray());
        var slots = new int[batch.Count];
        for (int g = 0; g < group.Count; g++)
            cache.Append(prompts[g], group[g].Prompt.Count, slots.AsSpan(batch.CuSeqlens[g]));
        _model.Forward(batch, training: false, cache, slots);
        var promptLogits = _model.Logits(batch.LastRows());

        // Fork each prompt's prefix once per sample; the rows start from the prompt's last logits.
        var live = new List<Row>();
        foreach (var (request, g) in group.Select((r, g) => (r, g)))
        {
            for (int s = 0; s < request.Samples; s++)
                live.Add(new Row(request, s, cache.Fork(prompts[g]), g));
            cache.Release(prompts[g]);
        }
        var logits = _rowLogits.Get((long)live.Count * vocab);
        for (int i = 0; i < live.Count; i++)
            _model.Kernels.Copy(logits.Slice((long)i * vocab, vocab), promptLogits.Slice((long)live[i].Group * vocab, vocab));

        var finished = new List<(int Group, GeneratedSequence Sequence)>();
        while (true)
        {
            int b = live.Count;
            var tokens = Sample(live, logits, options);
            var next = new List<Row>(b);
            for (int i = 0; i < b; i++)
            {
                var row = live[i];
                row.Tokens.Add(tokens[i]);
                int position = row.Request.Prompt.Count + row.Tokens.Count - 1;
                FinishReason? reason = _stopTokens.Contains(tokens[i]) ? FinishReason.Stop
                    : row.Tokens.Count >= options.MaxTokens || position + 1 >= config.MaxPositionEmbeddings ? FinishReason.Length
                    : null;
                if (reason is { } r)
                {
                    finished.Add((row.Group, new GeneratedSequence(row.Request.RecordId, row.SampleIndex, [.. row.Tokens], r)));
                    cache.Release(row.Cache);
                }
                else next.Add(row);
            }
            live = next;
            if (live.Count == 0) break;
            _model.Decode(StepOf(live, cache), cache);
            logits = _model.Logits(Enumerable.Range(0, live.Count).ToArray());
        }
        return finished.OrderBy(f => f.Group).ThenBy(f => f.Sequence.SampleIndex).Select(f => f.Sequence).ToList();
    }

    private int[] Sample(List<Row> rows, Tensor logits, SamplingOptions options)
    {
        int b = rows.Count, vocab = _model.Config.VocabSize;
        var uniforms = new double[b];
        for (int i = 0; i < b; i++)
        {
            var row = rows[i];
            uniforms[i] = Philox.Uniform(options.Seed, row.Request.RecordId, row.SampleIndex, row.Request.Prompt.Count + row.Tokens.Count);
        }
        var tokens = _sampled.Get(b);
        _model.Kernels.SampleTopP(tokens, _probs.Get((long)b * vocab), logits, _uniforms.Put(uniforms), b, vocab, options.Temperature, options.TopP);
        var host = new int[b];
        _model.Kernels.Download(tokens, host);
        return host;
    }

    private DecodeStep StepOf(List<Row> rows, KvCache cache)
    {
        int b = rows.Count;
        int maxBlocks = rows.Max(r => cache.BlocksFor(r.Cache.Length + 1));
        var step = new DecodeStep(new int[b], new int[b], new int[b], new int[b * maxBlocks], maxBlocks, new int[b]);
        for (int i = 0; i < b; i++)
        {
            var row = rows[i];
            step.Tokens[i] = row.Tokens[^1];
            step.Positions[i] = row.Cache.Length;
            cache.Append(row.Cache, 1, step.Slots.AsSpan(i, 1));
            cache.FillBlockTable(row.Cache, step.BlockTables.AsSpan(i * maxBlocks, maxBlocks));
            step.Lengths[i] = row.Cache.Length;
        }
        return step;
    }

    /// <summary>A cache large enough for the group's prompts plus every sample's full budget.</summary>
    private KvCache CacheFor(IReadOnlyList<GenerationRequest> group, SamplingOptions options)
    {
        int blocks = 0;
        foreach (var request in group)
        {
            int longest = Math.Min(request.Prompt.Count + options.MaxTokens, _model.Config.MaxPositionEmbeddings);
            blocks += (request.Prompt.Count + _blockSize - 1) / _blockSize
                + request.Samples * ((longest + _blockSize - 1) / _blockSize + 1);
        }
        if (_cache is null || _cache.Blocks < blocks)
        {
            _cache?.Dispose();
            _cache = new KvCache(_model.Kernels, _model.Config, _model.Type, blocks, _blockSize);
        }
        return _cache;
    }

    public void Dispose()
    {
        _cache?.Dispose();
        _rowLogits.Dispose();
        _probs.Dispose();
        _uniforms.Dispose();
        _sampled.Dispose();
    }

    private sealed record Row(GenerationRequest Request, int SampleIndex, KvSequence Cache, int Group)
    {
        public List<int> Tokens { get; } = [];
    }
}
