namespace FastSelfReward.Model;

/// <summary>
/// A ragged batch packed without padding: sequence b owns rows [CuSeqlens[b], CuSeqlens[b+1]) of
/// <see cref="Tokens"/> and <see cref="Positions"/>. Each row carries its own position, so a
/// sequence computes the same alone as inside any batch.
/// </summary>
public sealed class TokenBatch
{
    public TokenBatch(int[] tokens, int[] positions, int[] cuSeqlens)
    {
        if (positions.Length != tokens.Length)
            throw new ArgumentException($"positions ({positions.Length}) and tokens ({tokens.Length}) differ in length");
        if (cuSeqlens.Length < 2 || cuSeqlens[0] != 0 || cuSeqlens[^1] != tokens.Length)
            throw new ArgumentException($"cu_seqlens must run from 0 to the token count {tokens.Length}");
        for (int b = 0; b + 1 < cuSeqlens.Length; b++)
            if (cuSeqlens[b + 1] <= cuSeqlens[b])
                throw new ArgumentException($"sequence {b} of the batch is empty");
        Tokens = tokens;
        Positions = positions;
        CuSeqlens = cuSeqlens;
    }

    public int[] Tokens { get; }
    public int[] Positions { get; }
    public int[] CuSeqlens { get; }

    /// <summary>Total tokens (rows).</summary>
    public int Count => Tokens.Length;

    /// <summary>Number of sequences.</summary>
    public int Sequences => CuSeqlens.Length - 1;

    /// <summary>Packs sequences, each starting at position 0.</summary>
    public static TokenBatch Pack(IReadOnlyList<IReadOnlyList<int>> sequences)
    {
        int total = sequences.Sum(s => s.Count);
        var tokens = new int[total];
        var positions = new int[total];
        var cu = new int[sequences.Count + 1];
        int row = 0;
        for (int b = 0; b < sequences.Count; b++)
        {
            for (int t = 0; t < sequences[b].Count; t++, row++)
            {
                tokens[row] = sequences[b][t];
                positions[row] = t;
            }
            cu[b + 1] = row;
        }
        return new TokenBatch(tokens, positions, cu);
    }

    /// <summary>Index of the last row of every sequence.</summary>
    public int[] LastRows() => CuSeqlens.Skip(1).Select(end => end - 1).ToArray();
}
