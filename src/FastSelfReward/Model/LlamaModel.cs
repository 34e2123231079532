using FastSelfReward.Compute;

namespace FastSelfReward.Model;

/// <summary>
/// A Llama-family decoder with explicit forward and backward passes over <see cref="IKernels"/>,
/// in the manner of llm.c: no autograd; the forward keeps the activations the backward needs, and
/// the backward calls the backward ops in reverse. Parameters and gradients each live in one flat
/// buffer laid out by <see cref="ParameterLayout"/>, addressed by Hugging Face names.
/// </summary>
/// <remarks>
/// One block, for rows x of a packed batch (RMSNorm, rotate-half RoPE, causal grouped-query attention, SwiGLU):
/// <code>
/// h   = x + Attention(RoPE(norm1(x) Wqᵀ), RoPE(norm1(x) Wkᵀ), norm1(x) Wvᵀ) Woᵀ
/// out = h + (silu(norm2(h) Wgᵀ) · norm2(h) Wuᵀ) Wdᵀ
/// </code>
/// The language-model head never materialises [rows, vocab] logits at once: log-probs and their
/// gradient run over chunks of the rows that carry a target.
/// <para>
/// Precision. An F32 or F64 model computes in its type throughout. A BF16 model trains as llm.c does:
/// weights (a bf16 copy), activations, activation gradients and the KV cache are bf16; the master
/// weights (<see cref="Parameters"/>), parameter gradients, optimizer moments, RMSNorm and attention
/// statistics, logits and log-probs are fp32 (<see cref="DTypes.Wide"/>). GEMMs read bf16 and
/// accumulate in fp32, writing fp32 where the result is a parameter gradient or logits.
/// </para>
/// </remarks>
public sealed class LlamaModel : IDisposable
{
    /// <summary>Largest logits chunk, in elements (32 MiB in fp32).</summary>
    private const long LogitsChunkElements = 8L << 20;

    private readonly LayerWeights[] _layers;
    // The weights the forward reads: Parameters itself, or their bf16 copy in a mixed-precision model.
    private readonly DeviceBuffer _computeWeights;
    private readonly DeviceBuffer _ropeFrequencies;
    private readonly bool _mixed;
    private bool _computeWeightsCurrent;
    private LayerWeights[]? _layerGradients;
    private DeviceBuffer? _parameters, _gradients;
    private Activations? _activations;
    private GradientScratch? _scratch;
    private int _rows;
    private bool _canBackward;
    private int _sequences;

    // Device copies of the current batch's integer inputs, kept until the backward needs them.
    private readonly GrowableBuffer _tokens, _positions, _cuSeqlens, _slots, _blockTables, _lengths;
    // Head scratch: selected rows, their logits, targets, gradient weights and log-probs; in a
    // mixed-precision model also the bf16 logits gradient and the fp32 gradient of the final rows.
    private readonly GrowableBuffer _rowIndex, _targets, _gradWeights, _logp, _logits, _selected, _dSelected, _dLogits, _dFinal;

    /// <param name="kernels">The backend.</param>
    /// <param name="config">The architecture.</param>
    /// <param name="type">Storage type (see the remarks on precision); null takes <see cref="IKernels.ModelType"/>.</param>
    public LlamaModel(IKernels kernels, LlamaConfig config, DType? type = null)
    {
        Kernels = kernels;
        Config = config.Validate();
        Type = type ?? kernels.ModelType;
        Layout = new ParameterLayout(config);
        DType wide = Type.Wide();
        _mixed = wide != Type;
        _parameters = kernels.Allocate(Layout.TotalLength, wide);
        _computeWeights = _mixed ? kernels.Allocate(Layout.TotalLength, Type) : _parameters;
        _computeWeightsCurrent = !_mixed;
        _layers = Enumerable.Range(0, config.NumHiddenLayers).Select(l => LayerWeights.Of(Layout, _computeWeights, l)).ToArray();
        _tokens = new(kernels, DType.I32);
        _positions = new(kernels, DType.I32);
        _cuSeqlens = new(kernels, DType.I32);
        _slots = new(kernels, DType.I32);
        _blockTables = new(kernels, DType.I32);
        _lengths = new(kernels, DType.I32);
        _rowIndex = new(kernels, DType.I32);
        _targets = new(kernels, DType.I32);
        _gradWeights = new(kernels, wide);
        _logp = new(kernels, wide);
        _logits = new(kernels, wide);
        _selected = new(kernels, Type);
        _dSelected = new(kernels, Type);
        _dLogits = new(kernels, Type);
        _dFinal = new(kernels, wide);
        _ropeFrequencies = kernels.Allocate(config.HeadDim / 2, DType.F64);
        kernels.Upload(_ropeFrequencies, RopeFrequencies.Of(config));
    }

    public IKernels Kernels { get; }
    public LlamaConfig Config { get; }

    /// <summary>The storage type of weights (their compute copy), activations and the KV cache.</summary>
    public DType Type { get; }

    public ParameterLayout Layout { get; }

    /// <summary>
    /// Every parameter, laid out by <see cref="Layout"/>, in <see cref="DTypes.Wide"/>(<see cref="Type"/>): the
    /// master weights that optimizers update and checkpoints read and write. After writing them, call
    /// <see cref="ParametersChanged"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// A mixed-precision model trained with ZeRO-1 on several ranks: its optimizer keeps this rank's
    /// range of the master weights instead (<see cref="HasParameters"/> is false) until training ends.
    /// </exception>
    public DeviceBuffer Parameters => _parameters ?? throw new InvalidOperationException(
        "this model's fp32 master weights are sharded over the ranks by its optimizer (ZeRO-1), each rank holding its range: " +
        "gather them first (AdamWOptimizer.GatherWeightsToRoot while training, AdamWOptimizer.GatherWeights when it ends)");

    /// <summary>Whether this process holds the whole <see cref="Parameters"/> (false while an optimizer keeps a range of them, see <see cref="ReleaseParameters"/>).</summary>
    public bool HasParameters => _parameters is not null;

    /// <summary>Whether the forward reads a bf16 copy of <see cref="Parameters"/> (a mixed-precision model) rather than the parameters themselves.</summary>
    internal bool HasComputeCopy => _mixed;

    /// <summary>
    /// Frees the whole master weights of a mixed-precision model whose optimizer keeps its own range of
    /// them (ZeRO-1): the model goes on computing from its bf16 copy, which the optimizer keeps current.
    /// </summary>
    /// <exception cref="InvalidOperationException">The model computes from the master weights themselves (not mixed precision).</exception>
    internal void ReleaseParameters()
    {
        if (!_mixed) throw new InvalidOperationException($"a {Type} model computes from its master weights; they cannot be released");
        _parameters?.Dispose();
        _parameters = null;
    }

    /// <summary>The whole master weights, allocated again (contents unspecified) when released; the caller fills them.</summary>
    internal DeviceBuffer AllocateParameters() => _parameters ??= Kernels.Allocate(Layout.TotalLength, Type.Wide());

    /// <summary>
    /// Frees the parameter gradients (a training run that has ended makes room for the master weights it
    /// gathers); the next <see cref="ZeroGradients"/> or backward allocates them again.
    /// </summary>
    internal void ReleaseGradients()
    {
        _gradients?.Dispose();
        _gradients = null;
        _layerGradients = null;
    }

    /// <summary>Parameter gradients (same layout and type as <see cref="Parameters"/>), allocated by the first backward or <see cref="ZeroGradients"/>.</summary>
    public DeviceBuffer Gradients => _gradients ??= AllocateGradients();

    /// <summary>
    /// Tells the model that <see cref="Parameters"/> were written (a load, an optimizer step, an
    /// initialisation): a mixed-precision model rounds them into its bf16 compute copy (to nearest even);
    /// any other model reads them directly and has nothing to do.
    /// </summary>
    public void ParametersChanged()
    {
        if (!_mixed) return;
        Kernels.Cast(_computeWeights, Parameters, Layout.TotalLength);
        _computeWeightsCurrent = true;
    }

    /// <summary>Rows of the most recent forward pass.</summary>
    public int Rows => _rows;

    /// <summary>The weights the forward reads: <see cref="Parameters"/>, or their bf16 copy in a mixed-precision model.</summary>
    internal Tensor ComputeWeights => _computeWeights;

    /// <summary>The view of one parameter tensor (master weights).</summary>
    public Tensor Parameter(string name) => View(Parameters, Layout[name]);

    /// <summary>The view of one parameter's gradient.</summary>
    public Tensor Gradient(string name) => View(Gradients, Layout[name]);

    /// <summary>Fills matrices with N(0, std²) and norm gains with 1, from a seed.</summary>
    public void InitializeRandom(int seed, double std = 0.02)
    {
        var random = new Random(seed);
        foreach (var entry in Layout.Entries)
        {
            var values = new double[entry.Count];
            if (entry.Shape.Length == 1) Array.Fill(values, 1.0);
            else
                for (long i = 0; i < values.Length; i++)
                {
                    // Box-Muller: a seeded System.Random gives the same stream on every platform.
                    double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
                    values[i] = std * Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
                }
            Kernels.Upload(View(Parameters, entry), values);
        }
        ParametersChanged();
    }

    /// <summary>Sets every parameter gradient to zero.</summary>
    public void ZeroGradients() => Kernels.Zero(Gradients);

    /// <summary>
    /// Runs the blocks over a packed batch. With <paramref name="cache"/>, each row's key and value
    /// are also written to the cache at <paramref name="slots"/> (a prefill). Activations for
    /// <see cref="Backward"/> are kept when <paramref name="training"/> is true.
    /// </summary>
    public void Forward(TokenBatch batch, bool training = true, KvCache? cache = null, int[]? slots = null)
    {
        using var _ = Nvtx.Range("forward");
        ValidateTokens(batch.Tokens, batch.Positions);
        if (cache is not null && (slots is null || slots.Length != batch.Count))
            throw new ArgumentException("a prefill into the KV cache needs one slot per token");
        int n = batch.Count;
        Prepare(n, training);
        var tokens = _tokens.Put(batch.Tokens);
        var positions = _positions.Put(batch.Positions);
        var cu = _cuSeqlens.Put(batch.CuSeqlens);
        var slotView = cache is null ? default : _slots.Put(slots);
        _sequences = batch.Sequences;
        RunBlocks(n, tokens, positions, (layer, q, k, v, att, lse) =>
        {
            if (cache is not null)
                Kernels.KvCacheWrite(cache.Keys(layer), cache.Values(layer), k, v, slotView, n, Config.KvHeads, Config.HeadDim);
            Kernels.AttentionForward(att, lse, q, k, v, cu, batch.Sequences, Shape);
        });
        _canBackward = training;
    }

    /// <summary>
    /// One decoding step: row r appends token <c>Tokens[r]</c> at <c>Positions[r]</c> to its cached
    /// sequence and attends over all of it. Afterwards <see cref="Logits"/> reads the rows' outputs.
    /// </summary>
    public void Decode(DecodeStep step, KvCache cache)
    {
        using var _ = Nvtx.Range("decode");
        ValidateTokens(step.Tokens, step.Positions);
        int b = step.Tokens.Length;
        Prepare(b, training: false);
        var tokens = _tokens.Put(step.Tokens);
        var positions = _positions.Put(step.Positions);
        var slots = _slots.Put(step.Slots);
        var tables = _blockTables.Put(step.BlockTables);
        var lengths = _lengths.Put(step.Lengths);
        RunBlocks(b, tokens, positions, (layer, q, k, v, att, _) =>
        {
            Kernels.KvCacheWrite(cache.Keys(layer), cache.Values(layer), k, v, slots, b, Config.KvHeads, Config.HeadDim);
            Kernels.DecodeAttention(att, q, cache.Keys(layer), cache.Values(layer), tables, step.MaxBlocks, lengths, b, cache.BlockSize, Shape);
        });
        _canBackward = false;
    }

    /// <summary>
    /// Logits [rows.Length, vocab] of the given rows of the last forward or decode, in backend memory
    /// (valid until the next call).
    /// </summary>
    public Tensor Logits(ReadOnlySpan<int> rows)
    {
        foreach (int row in rows)
            if ((uint)row >= (uint)_rows) throw new ArgumentOutOfRangeException(nameof(rows), $"row {row} is outside the last forward's {_rows} rows");
        int r = rows.Length, c = Config.HiddenSize, v = Config.VocabSize;
        // A decoding step asks for all of its rows in order: the final activations are already the
        // selection, and the gather would only copy them.
        bool leading = true;
        for (int i = 0; i < r && leading; i++) leading = rows[i] == i;
        Tensor selected;
        if (leading) selected = _activations!.Final.Slice(0, (long)r * c);
        else
        {
            selected = _selected.Get((long)r * c);
            GatherRows(selected, _rowIndex.Put(rows), _activations!.Final, r);
        }
        var logits = _logits.Get((long)r * v);
        Kernels.Gemm(false, true, r, v, c, 1, selected, c, HeadWeight, c, 0, logits, v);
        return logits;
    }

    /// <summary>
    /// logp[i] = log p(targets[i] | rows ≤ i of its sequence) for every row of the last forward
    /// (0 where targets[i] &lt; 0). No gradient.
    /// </summary>
    public void TokenLogProbs(ReadOnlySpan<int> targets, Span<double> logp) => Head(targets, default, logp, backward: false);

    /// <summary>
    /// Accumulates into <see cref="Gradients"/> the gradient of L = Σᵢ gradWeights[i] · logp[i] over the
    /// rows of the last training forward, and writes logp (as <see cref="TokenLogProbs"/>) on the way.
    /// Cross-entropy over a loss mask is gradWeights[i] = -mask[i] / (loss tokens of the optimizer step).
    /// </summary>
    public void Backward(ReadOnlySpan<int> targets, ReadOnlySpan<double> gradWeights, Span<double> logp)
    {
        using var _ = Nvtx.Range("backward");
        if (!_canBackward) throw new InvalidOperationException("Backward needs a preceding Forward with training: true");
        if (gradWeights.Length != _rows) throw new ArgumentException($"gradWeights has {gradWeights.Length} entries for {_rows} rows");
        Head(targets, gradWeights, logp, backward: true);
        BackwardBlocks();
        _canBackward = false;
    }

    private AttentionShape Shape => new(Config.NumAttentionHeads, Config.KvHeads, Config.HeadDim, 1.0 / Math.Sqrt(Config.HeadDim));

    private Tensor HeadWeight => Weight(Config.TieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight");

    /// <summary>The compute copy of one parameter tensor: what the forward and backward read.</summary>
    private Tensor Weight(string name) => View(_computeWeights, Layout[name]);

    private delegate void Attention(int layer, Tensor q, Tensor k, Tensor v, Tensor output, Tensor lse);

    private void RunBlocks(int n, Tensor tokens, Tensor positions, Attention attend)
    {
        var a = _activations!;
        int c = Config.HiddenSize, f = Config.IntermediateSize, qd = Config.QueryDim, kvd = Config.KvDim;
        var embed = Weight("model.embed_tokens.weight");
        Kernels.EmbeddingForward(a.Stream(0), tokens, embed, n, c);
        for (int l = 0; l < Config.NumHiddenLayers; l++)
        {
            var w = _layers[l];
            var s = a.Layer(l);
            var x = a.Stream(l);
            Kernels.RmsNormForward(s.Norm1, s.Rstd1, x, w.InputNorm, n, c, Config.RmsNormEps);
            Linear(s.Q, s.Norm1, w.Q, n, qd, c);
            Linear(s.K, s.Norm1, w.K, n, kvd, c);
            Linear(s.V, s.Norm1, w.V, n, kvd, c);
            Kernels.RopeForward(s.Q, positions, _ropeFrequencies, n, Config.NumAttentionHeads, Config.HeadDim);
            Kernels.RopeForward(s.K, positions, _ropeFrequencies, n, Config.KvHeads, Config.HeadDim);
            attend(l, s.Q, s.K, s.V, s.Attention, s.Lse);
            Linear(a.Projection, s.Attention, w.O, n, c, qd);
            Kernels.ResidualForward(s.Middle, x, a.Projection, (long)n * c);
            Kernels.RmsNormForward(s.Norm2, s.Rstd2, s.Middle, w.PostNorm, n, c, Config.RmsNormEps);
            Linear(s.Gate, s.Norm2, w.Gate, n, f, c);
            Linear(s.Up, s.Norm2, w.Up, n, f, c);
            Kernels.SwiGluForward(s.Hidden, s.Gate, s.Up, (long)n * f);
            Linear(a.Projection, s.Hidden, w.Down, n, c, f);
            Kernels.ResidualForward(a.Stream(l + 1), s.Middle, a.Projection, (long)n * c);
        }
        Kernels.RmsNormForward(a.Final, a.FinalRstd, a.Stream(Config.NumHiddenLayers), Weight("model.norm.weight"), n, c, Config.RmsNormEps);
    }

    private void Head(ReadOnlySpan<int> targets, ReadOnlySpan<double> gradWeights, Span<double> logp, bool backward)
    {
        if (targets.Length != _rows) throw new ArgumentException($"targets has {targets.Length} entries for {_rows} rows");
        if (logp.Length != _rows) throw new ArgumentException($"logp has {logp.Length} entries for {_rows} rows");
        int c = Config.HiddenSize, v = Config.VocabSize;
        var rows = new List<int>(_rows);
        for (int i = 0; i < _rows; i++)
        {
            if (targets[i] >= v) throw new ArgumentOutOfRangeException(nameof(targets), $"target {targets[i]} at row {i} is outside the vocabulary of {v}");
            if (targets[i] >= 0 && (!backward || gradWeights[i] != 0)) rows.Add(i);
        }
        logp.Clear();
        var a = _activations!;
        // The head scatters each chunk's row gradients into dFinal; a mixed-precision model sums them
        // in fp32 and rounds once at the end.
        var dFinal = !backward ? default : _mixed ? _dFinal.Get((long)_rows * c) : _scratch!.Final;
        if (backward) Kernels.Zero(dFinal);
        var weight = HeadWeight;
        var dWeight = backward ? Gradient(Config.TieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight") : default;
        int chunk = (int)Math.Clamp(LogitsChunkElements / v, 1, Math.Max(1, rows.Count));
        var chunkTargets = new int[chunk];
        var chunkWeights = new double[chunk];
        var chunkLogp = new double[chunk];
        var rowSpan = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(rows);
        for (int start = 0; start < rows.Count; start += chunk)
        {
            int r = Math.Min(chunk, rows.Count - start);
            var chunkRows = rowSpan.Slice(start, r);
            for (int i = 0; i < r; i++)
            {
                chunkTargets[i] = targets[chunkRows[i]];
                if (backward) chunkWeights[i] = gradWeights[chunkRows[i]];
            }
            var index = _rowIndex.Put(chunkRows);
            var selected = _selected.Get((long)r * c);
            GatherRows(selected, index, a.Final, r);
            var logits = _logits.Get((long)r * v);
            Kernels.Gemm(false, true, r, v, c, 1, selected, c, weight, c, 0, logits, v);
            var lp = _logp.Get(r);
            Tensor? w = backward ? _gradWeights.Put(chunkWeights.AsSpan(0, r)) : null;
            Kernels.TokenLogProbs(logits, lp, _targets.Put(chunkTargets.AsSpan(0, r)), w, r, v);
            Kernels.Download(lp, chunkLogp.AsSpan(0, r));
            for (int i = 0; i < r; i++) logp[chunkRows[i]] = chunkLogp[i];
            if (!backward) continue;
            // logits now holds dL/dlogits: back into the selected rows and the head weight, through
            // a bf16 copy in a mixed-precision model (GEMM operands share one type).
            var dLogits = logits;
            if (_mixed)
            {
                dLogits = _dLogits.Get((long)r * v);
                Kernels.Cast(dLogits, logits, (long)r * v);
            }
            var dSelected = _dSelected.Get((long)r * c);
            Kernels.Gemm(false, false, r, c, v, 1, dLogits, v, weight, c, 0, dSelected, c);
            ScatterAddRows(dFinal, index, dSelected, r);
            Kernels.Gemm(true, false, v, c, r, 1, dLogits, v, selected, c, 1, dWeight, c);
        }
        if (backward && _mixed) Kernels.Cast(_scratch!.Final, dFinal, (long)_rows * c);
    }

    private void BackwardBlocks()
    {
        var a = _activations!;
        var g = _scratch!;
        int n = _rows, c = Config.HiddenSize, f = Config.IntermediateSize, qd = Config.QueryDim, kvd = Config.KvDim;
        _ = Gradients;
        var grads = _layerGradients!;
        var tokens = _tokens.Get(n);
        var positions = _positions.Get(n);
        var cu = _cuSeqlens.Get(_sequences + 1);
        int sequences = _sequences;
        var dx = g.Stream;
        Kernels.RmsNormBackward(dx, Gradient("model.norm.weight"), g.Final, a.Stream(Config.NumHiddenLayers),
            Weight("model.norm.weight"), a.FinalRstd, n, c);
        for (int l = Config.NumHiddenLayers - 1; l >= 0; l--)
        {
            var w = _layers[l];
            var dw = grads[l];
            var s = a.Layer(l);
            // out = middle + hidden Wdᵀ
            LinearBackward(g.Hidden, dw.Down, dx, s.Hidden, w.Down, n, c, f);
            Kernels.SwiGluBackward(g.Gate, g.Up, g.Hidden, s.Gate, s.Up, (long)n * f);
            LinearBackward(g.Norm, dw.Gate, g.Gate, s.Norm2, w.Gate, n, f, c);
            LinearBackward(g.Norm, dw.Up, g.Up, s.Norm2, w.Up, n, f, c, accumulate: true);
            Kernels.RmsNormBackward(g.Residual, dw.PostNorm, g.Norm, s.Middle, w.PostNorm, s.Rstd2, n, c);
            Kernels.ResidualBackward(dx, g.Residual, (long)n * c);
            // middle = x + attention Woᵀ
            LinearBackward(g.Attention, dw.O, dx, s.Attention, w.O, n, c, qd);
            Kernels.AttentionBackward(g.Q, g.K, g.V, g.Attention, s.Attention, s.Lse, s.Q, s.K, s.V, cu, sequences, Shape);
            Kernels.RopeBackward(g.Q, positions, _ropeFrequencies, n, Config.NumAttentionHeads, Config.HeadDim);
            Kernels.RopeBackward(g.K, positions, _ropeFrequencies, n, Config.KvHeads, Config.HeadDim);
            LinearBackward(g.Norm, dw.Q, g.Q, s.Norm1, w.Q, n, qd, c);
            LinearBackward(g.Norm, dw.K, g.K, s.Norm1, w.K, n, kvd, c, accumulate: true);
            LinearBackward(g.Norm, dw.V, g.V, s.Norm1, w.V, n, kvd, c, accumulate: true);
            Kernels.RmsNormBackward(g.Residual, dw.InputNorm, g.Norm, a.Stream(l), w.InputNorm, s.Rstd1, n, c);
            Kernels.ResidualBackward(dx, g.Residual, (long)n * c);
        }
        Kernels.EmbeddingBackward(Gradient("model.embed_tokens.weight"), dx, tokens, n, c);
    }

    /// <summary>y[n, out] = x[n, in] Wᵀ (W stored [out, in]).</summary>
    private void Linear(Tensor y, Tensor x, Tensor w, int n, int outDim, int inDim) =>
        Kernels.Gemm(false, true, n, outDim, inDim, 1, x, inDim, w, inDim, 0, y, outDim);

    /// <summary>dx (= or += with accumulate) = dy W; dW += dyᵀ x.</summary>
    private void LinearBackward(Tensor dx, Tensor dw, Tensor dy, Tensor x, Tensor w, int n, int outDim, int inDim, bool accumulate = false)
    {
        Kernels.Gemm(false, false, n, inDim, outDim, 1, dy, outDim, w, inDim, accumulate ? 1 : 0, dx, inDim);
        Kernels.Gemm(true, false, outDim, inDim, n, 1, dy, outDim, x, inDim, 1, dw, inDim);
    }

    // A row gather is an embedding lookup whose "table" is the activation matrix, and its
    // scatter-add is that lookup's backward; the same kernels serve both.
    private void GatherRows(Tensor destination, Tensor rows, Tensor source, int count) =>
        Kernels.EmbeddingForward(destination, rows, source, count, Config.HiddenSize);

    private void ScatterAddRows(Tensor destination, Tensor rows, Tensor source, int count) =>
        Kernels.EmbeddingBackward(destination, source, rows, count, Config.HiddenSize);

    private void Prepare(int n, bool training)
    {
        if (n <= 0) throw new ArgumentException("a forward pass needs at least one token");
        if (_activations is null || _activations.Capacity < n || (training && !_activations.AllLayers))
        {
            int capacity = Math.Max(n, _activations?.Capacity ?? 0);
            bool allLayers = training || (_activations?.AllLayers ?? false);
            _activations?.Dispose();
            _activations = new Activations(Kernels, Config, Type, capacity, allLayers);
        }
        if (!_computeWeightsCurrent)
            throw new InvalidOperationException("the bf16 weights were never filled from Parameters: call ParametersChanged after writing them");
        if (training && (_scratch is null || _scratch.Capacity < n))
        {
            _scratch?.Dispose();
            _scratch = new GradientScratch(Kernels, Config, Type, Math.Max(n, _activations.Capacity));
            _ = Gradients;
        }
        _activations.Rows = n;
        _scratch?.SetRows(n);
        _rows = n;
        _canBackward = false;
    }

    private void ValidateTokens(int[] tokens, int[] positions)
    {
        if (positions.Length != tokens.Length) throw new ArgumentException($"{positions.Length} positions for {tokens.Length} tokens");
        for (int i = 0; i < tokens.Length; i++)
        {
            if ((uint)tokens[i] >= (uint)Config.VocabSize)
                throw new ArgumentOutOfRangeException(nameof(tokens), $"token {tokens[i]} at row {i} is outside the vocabulary of {Config.VocabSize}");
            if ((uint)positions[i] >= (uint)Config.MaxPositionEmbeddings)
                throw new ArgumentOutOfRangeException(nameof(positions), $"position {positions[i]} at row {i} is beyond max_position_embeddings {Config.MaxPositionEmbeddings}");
        }
    }

    private DeviceBuffer AllocateGradients()
    {
        var buffer = Kernels.Allocate(Layout.TotalLength, Type.Wide());
        _layerGradients = Enumerable.Range(0, Config.NumHiddenLayers).Select(l => LayerWeights.Of(Layout, buffer, l)).ToArray();
        return buffer;
    }

    private static Tensor View(DeviceBuffer buffer, ParameterEntry entry) => buffer.Slice(entry.Offset, entry.Count);

    public void Dispose()
    {
        _activations?.Dispose();
        _scratch?.Dispose();
        _gradients?.Dispose();
        if (_mixed) _computeWeights.Dispose();
        _parameters?.Dispose();
        _ropeFrequencies.Dispose();
        foreach (var b in new[] { _tokens, _positions, _cuSeqlens, _slots, _blockTables, _lengths, _rowIndex, _targets, _gradWeights, _logp, _logits,
                     _selected, _dSelected, _dLogits, _dFinal })
            b.Dispose();
    }

    /// <summary>The parameter (or gradient) views of one block.</summary>
    private readonly record struct LayerWeights(Tensor InputNorm, Tensor Q, Tensor K, Tensor V, Tensor O,
        Tensor PostNorm, Tensor Gate, Tensor Up, Tensor Down)
    {
        public static LayerWeights Of(ParameterLayout layout, DeviceBuffer buffer, int layer)
        {
            string p = $"model.layers.{layer}.";
            Tensor T(string name) => View(buffer, layout[p + name]);
            return new(T("input_layernorm.weight"), T("self_attn.q_proj.weight"), T("self_attn.k_proj.weight"),
                T("self_attn.v_proj.weight"), T("self_attn.o_proj.weight"), T("post_attention_layernorm.weight"),
                T("mlp.gate_proj.weight"), T("mlp.up_proj.weight"), T("mlp.down_proj.weight"));
        }
    }

    /// <summary>The views of one block's saved activations for the current rows.</summary>
    private readonly record struct LayerActivations(Tensor Norm1, Tensor Rstd1, Tensor Q, Tensor K, Tensor V, Tensor Attention,
        Tensor Lse, Tensor Middle, Tensor Norm2, Tensor Rstd2, Tensor Gate, Tensor Up, Tensor Hidden);

    /// <summary>
    /// Forward activations for up to <see cref="Capacity"/> rows. With <see cref="AllLayers"/> every
    /// block keeps its own (training); otherwise all blocks share one set and the residual stream is
    /// updated in place (inference).
    /// </summary>
    private sealed class Activations : IDisposable
    {
        private readonly List<DeviceBuffer> _owned = [];
        private readonly DeviceBuffer _stream, _norm1, _rstd1, _q, _k, _v, _attention, _lse, _middle, _norm2, _rstd2, _gate, _up, _hidden;
        private readonly DeviceBuffer _final, _finalRstd, _projection;
        private readonly int _c, _f, _qd, _kvd, _heads;

        public Activations(IKernels kernels, LlamaConfig config, DType type, int capacity, bool allLayers)
        {
            Capacity = capacity;
            AllLayers = allLayers;
            (_c, _f, _qd, _kvd, _heads) = (config.HiddenSize, config.IntermediateSize, config.QueryDim, config.KvDim, config.NumAttentionHeads);
            int slots = allLayers ? config.NumHiddenLayers : 1;
            DeviceBuffer Alloc(long perRow, int count, DType? of = null)
            {
                var b = kernels.Allocate(perRow * capacity * count, of ?? type);
                _owned.Add(b);
                return b;
            }
            // Normalisation and softmax statistics stay wide: bf16 would round a row's scale.
            DType statistics = type.Wide();
            _stream = Alloc(_c, slots + 1);
            _norm1 = Alloc(_c, slots); _rstd1 = Alloc(1, slots, statistics);
            _q = Alloc(_qd, slots); _k = Alloc(_kvd, slots); _v = Alloc(_kvd, slots);
            _attention = Alloc(_qd, slots); _lse = Alloc(_heads, slots, statistics);
            _middle = Alloc(_c, slots); _norm2 = Alloc(_c, slots); _rstd2 = Alloc(1, slots, statistics);
            _gate = Alloc(_f, slots); _up = Alloc(_f, slots); _hidden = Alloc(_f, slots);
            _final = Alloc(_c, 1); _finalRstd = Alloc(1, 1, statistics); _projection = Alloc(_c, 1);
        }

        public int Capacity { get; }
        public bool AllLayers { get; }
        public int Rows { get; set; }

        private Tensor Slot(DeviceBuffer buffer, long perRow, int slot) => buffer.Slice(slot * perRow * Capacity, perRow * Rows);

        /// <summary>Residual stream entering block l (l = layers: after the last block).</summary>
        public Tensor Stream(int l) => Slot(_stream, _c, AllLayers ? l : 0);

        public LayerActivations Layer(int l)
        {
            int s = AllLayers ? l : 0;
            return new(Slot(_norm1, _c, s), Slot(_rstd1, 1, s), Slot(_q, _qd, s), Slot(_k, _kvd, s), Slot(_v, _kvd, s),
                Slot(_attention, _qd, s), Slot(_lse, _heads, s), Slot(_middle, _c, s), Slot(_norm2, _c, s), Slot(_rstd2, 1, s),
                Slot(_gate, _f, s), Slot(_up, _f, s), Slot(_hidden, _f, s));
        }

        public Tensor Final => Slot(_final, _c, 0);
        public Tensor FinalRstd => Slot(_finalRstd, 1, 0);
        public Tensor Projection => Slot(_projection, _c, 0);

        public void Dispose() { foreach (var b in _owned) b.Dispose(); }
    }

    /// <summary>Activation-gradient scratch of the backward, shared by every block.</summary>
    private sealed class GradientScratch : IDisposable
    {
        private readonly List<DeviceBuffer> _owned = [];
        private readonly DeviceBuffer _stream, _final, _residual, _norm, _attention, _q, _k, _v, _hidden, _gate, _up;
        private readonly int _c, _f, _qd, _kvd;
        private int _rows;

        public GradientScratch(IKernels kernels, LlamaConfig config, DType type, int capacity)
        {
            Capacity = capacity;
            (_c, _f, _qd, _kvd) = (config.HiddenSize, config.IntermediateSize, config.QueryDim, config.KvDim);
            DeviceBuffer Alloc(long perRow) { var b = kernels.Allocate(perRow * capacity, type); _owned.Add(b); return b; }
            _stream = Alloc(_c); _final = Alloc(_c); _residual = Alloc(_c); _norm = Alloc(_c);
            _attention = Alloc(_qd); _q = Alloc(_qd); _k = Alloc(_kvd); _v = Alloc(_kvd);
            _hidden = Alloc(_f); _gate = Alloc(_f); _up = Alloc(_f);
        }

        public int Capacity { get; }
        public void SetRows(int rows) => _rows = rows;

        private Tensor Rows(DeviceBuffer b, long perRow) => b.Slice(0, perRow * _rows);
        public Tensor Stream => Rows(_stream, _c);
        public Tensor Final => Rows(_final, _c);
        public Tensor Residual => Rows(_residual, _c);
        public Tensor Norm => Rows(_norm, _c);
        public Tensor Attention => Rows(_attention, _qd);
        public Tensor Q => Rows(_q, _qd);
        public Tensor K => Rows(_k, _kvd);
        public Tensor V => Rows(_v, _kvd);
        public Tensor Hidden => Rows(_hidden, _f);
        public Tensor Gate => Rows(_gate, _f);
        public Tensor Up => Rows(_up, _f);

        public void Dispose() { foreach (var b in _owned) b.Dispose(); }
    }
}

/// <summary>
/// The inputs of one decoding step for b rows: each row's new token, its position, the cache slot
/// it is written to, the row's block table ([b, MaxBlocks]) and its cached length including the new token.
/// </summary>
public sealed record DecodeStep(int[] Tokens, int[] Positions, int[] Slots, int[] BlockTables, int MaxBlocks, int[] Lengths);
