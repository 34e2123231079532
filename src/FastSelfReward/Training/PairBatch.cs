using FastSelfReward.Model;

namespace FastSelfReward.Training;

/// <summary>
/// Pairs packed into one ragged batch, chosen and rejected sequence of pair j as sequences 2j and
/// 2j + 1, with the targets that score each answer: row t predicts token t + 1 when that token
/// belongs to the answer, and has no target otherwise.
/// </summary>
internal sealed class PairBatch
{
    private readonly int[] _answerStart, _answerEnd; // per sequence: first and one-past-last target row

    private PairBatch(TokenBatch batch, int[] targets, int[] answerStart, int[] answerEnd)
    {
        Batch = batch;
        Targets = targets;
        _answerStart = answerStart;
        _answerEnd = answerEnd;
    }

    public TokenBatch Batch { get; }
    public int[] Targets { get; }
    public int Pairs => _answerStart.Length / 2;

    public static PairBatch Pack(IReadOnlyList<PreferencePair> pairs)
    {
        var sequences = new List<IReadOnlyList<int>>(2 * pairs.Count);
        var answerLengths = new List<int>(2 * pairs.Count);
        foreach (var pair in pairs)
        {
            sequences.Add(pair.ChosenSequence);
            answerLengths.Add(pair.ChosenIds.Length);
            sequences.Add(pair.RejectedSequence);
            answerLengths.Add(pair.RejectedIds.Length);
        }
        var batch = TokenBatch.Pack(sequences);
        var targets = new int[batch.Count];
        Array.Fill(targets, -1);
        var start = new int[sequences.Count];
        var end = new int[sequences.Count];
        for (int s = 0; s < sequences.Count; s++)
        {
            end[s] = batch.CuSeqlens[s + 1] - 1;
            start[s] = end[s] - answerLengths[s];
            for (int row = start[s]; row < end[s]; row++) targets[row] = batch.Tokens[row + 1];
        }
        return new PairBatch(batch, targets, start, end);
    }

    /// <summary>Per pair: Σ of the answer rows' log-probs of the chosen and the rejected sequence.</summary>
    public void Sums(ReadOnlySpan<double> logp, Span<double> chosen, Span<double> rejected)
    {
        for (int j = 0; j < Pairs; j++)
        {
            chosen[j] = Sum(logp, 2 * j);
            rejected[j] = Sum(logp, 2 * j + 1);
        }
    }

    /// <summary>Row weights that spread ∂L/∂(sequence sum) over the sequence's answer rows.</summary>
    public double[] RowWeights(ReadOnlySpan<double> dChosen, ReadOnlySpan<double> dRejected)
    {
        var weights = new double[Batch.Count];
        for (int j = 0; j < Pairs; j++)
        {
            weights.AsSpan(_answerStart[2 * j], _answerEnd[2 * j] - _answerStart[2 * j]).Fill(dChosen[j]);
            weights.AsSpan(_answerStart[2 * j + 1], _answerEnd[2 * j + 1] - _answerStart[2 * j + 1]).Fill(dRejected[j]);
        }
        return weights;
    }

    private double Sum(ReadOnlySpan<double> logp, int sequence)
    {
        double sum = 0;
        for (int row = _answerStart[sequence]; row < _answerEnd[sequence]; row++) sum += logp[row];
        return sum;
    }

    /// <summary>
    /// Packs <paramref name="pairs"/>, runs the model's forward over them (keeping activations for a
    /// backward when <paramref name="training"/>) and reads each row's log-prob and each pair's answer sums.
    /// </summary>
    public static (PairBatch Packed, double[] LogProbs, double[] Chosen, double[] Rejected) Forward(LlamaModel model,
        IReadOnlyList<PreferencePair> pairs, bool training)
    {
        var packed = Pack(pairs);
        var logp = new double[packed.Batch.Count];
        model.Forward(packed.Batch, training);
        model.TokenLogProbs(packed.Targets, logp);
        var chosen = new double[pairs.Count];
        var rejected = new double[pairs.Count];
        packed.Sums(logp, chosen, rejected);
        return (packed, logp, chosen, rejected);
    }

    /// <summary>Answer log-prob sums of <paramref name="pairs"/> under the current weights, by an inference forward pass.</summary>
    public static (double[] Chosen, double[] Rejected) Score(LlamaModel model, IReadOnlyList<PreferencePair> pairs)
    {
        var (_, _, chosen, rejected) = Forward(model, pairs, training: false);
        return (chosen, rejected);
    }
}
