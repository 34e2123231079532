namespace FastSelfReward.Compute.Cuda;

// The elementwise and small ops: RoPE (kernels/rope.cu), SwiGLU (swiglu.cu), AdamW (adamw.cu),
// gradient norm and scaling (grad_norm.cu) and the DPO loss (dpo_loss.cu).
public sealed unsafe partial class CudaKernels
{
    // sum_squares_partial's grid: enough blocks to stream at full bandwidth, few enough that the
    // second pass is one block.
    private const long MaxSumSquaresBlocks = 1024;
    private const int RopeBlock = 256;

    // SumSquares' per-block partials, then the total at [MaxSumSquaresBlocks]; allocated on the
    // first call and kept, so no call after it allocates.
    private DeviceBuffer? _sumSquaresScratch;

    /// <summary>x F32 or BF16 [n, heads, headDim], in place; the angle in double as on the CPU.</summary>
    public void RopeForward(Tensor x, Tensor positions, Tensor inverseFrequencies, long n, long heads, long headDim) =>
        Rope("rope_forward", x, positions, inverseFrequencies, n, heads, headDim, nameof(x));

    /// <summary>dx F32 or BF16 [n, heads, headDim], in place: the inverse rotation.</summary>
    public void RopeBackward(Tensor dx, Tensor positions, Tensor inverseFrequencies, long n, long heads, long headDim) =>
        Rope("rope_backward", dx, positions, inverseFrequencies, n, heads, headDim, nameof(dx));

    /// <summary>output, gate, up F32 or BF16 (the same).</summary>
    public void SwiGluForward(Tensor output, Tensor gate, Tensor up, long count)
    {
        NonNegative(count, nameof(count));
        DType type = StorageType(gate, nameof(gate));
        Expect(gate, type, count, nameof(gate));
        Expect(up, type, count, nameof(up));
        Expect(output, type, count, nameof(output));
        if (count == 0) return;
        nint o = output.Address, g = gate.Address, u = up.Address;
        void** args = stackalloc void*[] { &o, &g, &u, &count };
        Launch("swiglu.cu", $"swiglu_forward_{Suffix(type)}", ElementwiseGrid(count, 16 / type.Size()), new Dim3(ElementwiseBlock), args);
    }

    /// <summary>dGate, dUp (overwritten), dOutput, gate, up F32 or BF16 (the same).</summary>
    public void SwiGluBackward(Tensor dGate, Tensor dUp, Tensor dOutput, Tensor gate, Tensor up, long count)
    {
        NonNegative(count, nameof(count));
        DType type = StorageType(gate, nameof(gate));
        Expect(gate, type, count, nameof(gate));
        Expect(up, type, count, nameof(up));
        Expect(dOutput, type, count, nameof(dOutput));
        Expect(dGate, type, count, nameof(dGate));
        Expect(dUp, type, count, nameof(dUp));
        if (count == 0) return;
        nint dg = dGate.Address, du = dUp.Address, d = dOutput.Address, g = gate.Address, u = up.Address;
        void** args = stackalloc void*[] { &dg, &du, &d, &g, &u, &count };
        Launch("swiglu.cu", $"swiglu_backward_{Suffix(type)}", ElementwiseGrid(count, 16 / type.Size()), new Dim3(ElementwiseBlock), args);
    }

    /// <summary>
    /// All seven tensors F32 or BF16 (the same) [pairs]; computed in double. <paramref name="beta"/> must be
    /// positive and finite, <paramref name="labelSmoothing"/> in [0, 0.5).
    /// </summary>
    public void DpoLoss(Tensor loss, Tensor gradPolicyChosen, Tensor gradPolicyRejected,
        Tensor policyChosen, Tensor policyRejected, Tensor referenceChosen, Tensor referenceRejected,
        long pairs, double beta, double labelSmoothing, DpoLossKind kind)
    {
        NonNegative(pairs, nameof(pairs));
        if (!Enum.IsDefined(kind)) throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        if (!(beta > 0) || double.IsInfinity(beta)) throw new ArgumentOutOfRangeException(nameof(beta), beta, "beta must be positive and finite");
        if (!(labelSmoothing >= 0 && labelSmoothing < 0.5))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), labelSmoothing, "labelSmoothing must be in [0, 0.5)");
        DType type = StorageType(policyChosen, nameof(policyChosen));
        Expect(loss, type, pairs, nameof(loss));
        Expect(gradPolicyChosen, type, pairs, nameof(gradPolicyChosen));
        Expect(gradPolicyRejected, type, pairs, nameof(gradPolicyRejected));
        Expect(policyChosen, type, pairs, nameof(policyChosen));
        Expect(policyRejected, type, pairs, nameof(policyRejected));
        Expect(referenceChosen, type, pairs, nameof(referenceChosen));
        Expect(referenceRejected, type, pairs, nameof(referenceRejected));
        if (pairs == 0) return;
        nint l = loss.Address, gpc = gradPolicyChosen.Address, gpr = gradPolicyRejected.Address, pc = policyChosen.Address,
            pr = policyRejected.Address, rc = referenceChosen.Address, rr = referenceRejected.Address;
        long betaBits = BitConverter.DoubleToInt64Bits(beta), smoothingBits = BitConverter.DoubleToInt64Bits(labelSmoothing);
        int k = (int)kind;
        void** args = stackalloc void*[] { &l, &gpc, &gpr, &pc, &pr, &rc, &rr, &pairs, &betaBits, &smoothingBits, &k };
        Launch("dpo_loss.cu", $"dpo_loss_{Suffix(type)}", new Dim3(Blocks(pairs, ElementwiseBlock)), new Dim3(ElementwiseBlock), args);
    }

    /// <summary>param, grad, m, v F32 (master weights, gradients and moments stay fp32 whatever the activations are).</summary>
    public void AdamW(Tensor param, Tensor grad, Tensor m, Tensor v, long count, AdamWStep step)
    {
        NonNegative(count, nameof(count));
        // Bias correction divides by 1 - β^step, which is zero before the first step.
        if (step.Step < 1) throw new ArgumentOutOfRangeException(nameof(step), step.Step, "step.Step counts from 1");
        Expect(param, DType.F32, count, nameof(param));
        Expect(grad, DType.F32, count, nameof(grad));
        Expect(m, DType.F32, count, nameof(m));
        Expect(v, DType.F32, count, nameof(v));
        if (count == 0) return;
        // The constants the CPU loop uses: computed in double, rounded to float once.
        float lr = (float)step.LearningRate, b1 = (float)step.Beta1, b2 = (float)step.Beta2;
        float oneB1 = (float)(1.0 - step.Beta1), oneB2 = (float)(1.0 - step.Beta2);
        float invBc1 = (float)(1.0 / (1.0 - Math.Pow(step.Beta1, step.Step)));
        float invBc2 = (float)(1.0 / (1.0 - Math.Pow(step.Beta2, step.Step)));
        float eps = (float)step.Epsilon, wd = (float)step.WeightDecay, gs = (float)step.GradScale;
        nint p = param.Address, g = grad.Address, ma = m.Address, va = v.Address;
        void** args = stackalloc void*[] { &p, &g, &ma, &va, &count, &lr, &b1, &b2, &oneB1, &oneB2, &invBc1, &invBc2, &eps, &wd, &gs };
        Launch("adamw.cu", "adamw_f32", ElementwiseGrid(count, 4), new Dim3(ElementwiseBlock), args);
    }

    /// <summary>Σ x² of an F32 or BF16 tensor in double: the same bits on every call (two fixed-order passes, no atomics).</summary>
    public double SumSquares(Tensor x, long count)
    {
        NonNegative(count, nameof(count));
        DType type = StorageType(x, nameof(x));
        Expect(x, type, count, nameof(x));
        if (count == 0) return 0.0;
        Tensor scratch;
        lock (_lock) scratch = _sumSquaresScratch ??= Allocate(MaxSumSquaresBlocks + 1, DType.F64);
        long perBlock = (long)ElementwiseBlock * (16 / type.Size());
        int blocks = (int)Math.Min((count + perBlock - 1) / perBlock, MaxSumSquaresBlocks);
        nint partial = scratch.Address, total = scratch.Slice(MaxSumSquaresBlocks, 1).Address, xx = x.Address;
        void** partialArgs = stackalloc void*[] { &partial, &xx, &count };
        Launch("grad_norm.cu", $"sum_squares_partial_{Suffix(type)}", new Dim3((uint)blocks), new Dim3(ElementwiseBlock), partialArgs);
        void** finishArgs = stackalloc void*[] { &total, &partial, &blocks };
        Launch("grad_norm.cu", "sum_squares_finish", new Dim3(1), new Dim3(RowBlock(blocks)), finishArgs);
        Span<double> result = stackalloc double[1];
        Download(scratch.Slice(MaxSumSquaresBlocks, 1), result);
        return result[0];
    }

    private void Rope(string kernel, Tensor x, Tensor positions, Tensor inverseFrequencies, long n, long heads, long headDim, string name)
    {
        if (heads < 1) throw new ArgumentOutOfRangeException(nameof(heads), heads, "heads must be >= 1");
        if (headDim < 1) throw new ArgumentOutOfRangeException(nameof(headDim), headDim, "headDim must be >= 1");
        // Rotate-half pairs dimension i with i + headDim/2.
        if (headDim % 2 != 0) throw new ArgumentException($"headDim: expected an even size, got {headDim}", nameof(headDim));
        DType type = StorageType(x, name);
        Expect(x, type, Elements(n, checked(heads * headDim), nameof(n), nameof(heads)), name);
        Expect(positions, DType.I32, n, nameof(positions));
        Expect(inverseFrequencies, DType.F64, headDim / 2, nameof(inverseFrequencies));
        if (n == 0) return;
        // A thread per 16-byte pack of a half head (when the kernel can pack), the row's heads spread over the block.
        long items = heads * (headDim / 2) / (16 / type.Size());
        uint block = (uint)Math.Clamp((items + 31) / 32 * 32, 32, RopeBlock);
        nint xx = x.Address, pos = positions.Address, freq = inverseFrequencies.Address;
        void** args = stackalloc void*[] { &xx, &pos, &freq, &heads, &headDim };
        Launch("rope.cu", $"{kernel}_{Suffix(type)}", new Dim3(Blocks(n, 1)), new Dim3(block), args);
    }
}
