using FastSelfReward.Compute;
using FastSelfReward.Tests.TestSupport;

namespace FastSelfReward.Tests.Compute;

// Changes the process-wide thread count, so it runs alone.
[CollectionDefinition(nameof(BlasStressTests), DisableParallelization = true)]
public sealed class BlasStressCollection;

/// <summary>
/// The BLAS loaded at run time (whichever FSR_BLAS selects; build.sh runs these once per BLAS
/// present) under the conditions of a training step: the model's GEMM shapes, all four
/// transposes, repeated at other buffer alignments, with this library's OpenMP kernels running
/// between the calls. MKL once broke all three: its mkl_rt loaded LLVM's OpenMP runtime next to
/// libgomp, the dynamic-schedule loops of attention and sampling then ran every iteration on
/// every thread, and its results depended on buffer alignment (docs/blas.md).
/// </summary>
[Collection(nameof(BlasStressTests))]
[Trait("Category", "PerBlas")]
public sealed class BlasStressTests
{
    // (m, n, k) of the forward, input-gradient and weight-gradient GEMMs of a small Llama block
    // and its LM head (rows 256, dim 64, ffn 176, vocab 512), and a shape with no round sizes.
    private static readonly (int M, int N, int K)[] Shapes =
        [(256, 192, 64), (256, 64, 176), (176, 64, 256), (256, 512, 64), (512, 64, 256), (33, 17, 65)];

    [Fact]
    public void NoSecondOpenMpRuntimeJoinsTheProcess()
    {
        var kernels = new CpuKernels();
        RunGemm(kernels, false, false, Shapes[0], offset: 0, Inputs(DType.F32, false, false, Shapes[0]));
        string[] foreign = File.ReadAllLines("/proc/self/maps")
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "")
            .Where(path => Path.GetFileName(path) is var name && (name.StartsWith("libiomp5") || name.StartsWith("libomp.so")))
            .Distinct().ToArray();
        Assert.True(foreign.Length == 0,
            $"{kernels.Describe()}: a second OpenMP runtime is loaded next to libgomp: {string.Join(", ", foreign)}");
        Assert.DoesNotContain("WARNING", kernels.Describe());
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void EveryGemmMatchesTheReferenceAndItsOwnBitsAtOtherAlignments(DType type)
    {
        var kernels = new CpuKernels(type);
        var others = new OpenMpKernels(kernels.FloatType == DType.F32 ? kernels : new CpuKernels());
        var failures = new List<string>();
        foreach (var shape in Shapes)
            foreach (bool transA in new[] { false, true })
                foreach (bool transB in new[] { false, true })
                {
                    var inputs = Inputs(type, transA, transB, shape);
                    double[]? first = null;
                    // Offsets of 0, 1, 3 and 5 elements: 256-, 4- or 8-byte aligned rows; and the
                    // first alignment again after the others, with OpenMP kernels in between.
                    foreach (int offset in new[] { 0, 1, 3, 5, 0 })
                    {
                        others.Run();
                        double[] c = RunGemm(kernels, transA, transB, shape, offset, inputs);
                        string name = $"{type} transA={transA} transB={transB} {shape} offset {offset}";
                        if (first is null)
                        {
                            string? error = Compare(inputs, c, type);
                            if (error != null) failures.Add($"{name}: {error}");
                            first = c;
                        }
                        else if (!first.AsSpan().SequenceEqual(c))
                        {
                            int i = Enumerable.Range(0, c.Length).First(j => !first[j].Equals(c[j]));
                            failures.Add($"{name}: C[{i}] = {c[i]:R}, at offset 0 it was {first[i]:R} (not reproducible)");
                        }
                    }
                }
        Assert.True(failures.Count == 0, $"{kernels.Describe()}\n{string.Join("\n", failures.Take(12))}");
    }

    [Fact]
    public void OpenMpKernelsBetweenGemmsGiveTheirOneThreadBits()
    {
        var kernels = new CpuKernels();
        int threads = CpuKernels.Threads;
        var others = new OpenMpKernels(kernels);
        try
        {
            CpuKernels.Threads = Math.Max(2, threads);
            var inputs = Inputs(DType.F32, false, true, Shapes[3]);
            var parallel = new List<double[]>();
            for (int round = 0; round < 3; round++)
            {
                RunGemm(kernels, false, true, Shapes[3], offset: round, inputs);
                parallel = others.Run();
            }
            CpuKernels.Threads = 1;
            List<double[]> serial = others.Run();
            for (int i = 0; i < serial.Count; i++)
            {
                Assert.Equal(serial[i].Length, parallel[i].Length);
                int j = Enumerable.Range(0, serial[i].Length).FirstOrDefault(e => !serial[i][e].Equals(parallel[i][e]), -1);
                if (j >= 0)
                    Assert.Fail($"{kernels.Describe()}: {others.Names[i]}[{j}] is {parallel[i][j]:R} on "
                        + $"{Math.Max(2, threads)} threads, {serial[i][j]:R} on one");
            }
        }
        finally
        {
            CpuKernels.Threads = threads;
        }
    }

    [Fact]
    public void GemmsFromSeveralThreadsAtOnceGiveTheBitsOfOneCallAtATime()
    {
        var kernels = new CpuKernels();
        var inputs = Shapes.Select(shape => Inputs(DType.F32, false, true, shape)).ToArray();
        double[][] serial = Shapes.Select((shape, i) => RunGemm(kernels, false, true, shape, offset: 0, inputs[i])).ToArray();
        // Each thread runs every shape in its own order, so calls of all sizes overlap.
        const int Threads = 4, Rounds = 3;
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, Threads, new ParallelOptions { MaxDegreeOfParallelism = Threads }, thread =>
        {
            for (int round = 0; round < Rounds; round++)
                for (int j = 0; j < Shapes.Length; j++)
                {
                    int i = (j + thread) % Shapes.Length;
                    double[] c = RunGemm(kernels, false, true, Shapes[i], offset: 0, inputs[i]);
                    if (!serial[i].AsSpan().SequenceEqual(c))
                        failures.Add($"thread {thread}, round {round}, {Shapes[i]}: differs from the same call made alone");
                }
        });
        Assert.True(failures.IsEmpty, $"{kernels.Describe()}\n{string.Join("\n", failures.Take(12))}");
    }

    private sealed record GemmInputs(double[] A, double[] B, double[] C, int Lda, int Ldb, (int M, int N, int K) Shape, bool TransA, bool TransB);

    private static GemmInputs Inputs(DType type, bool transA, bool transB, (int M, int N, int K) shape)
    {
        var random = new Random(shape.M * 7 + shape.N * 3 + shape.K + (transA ? 1 : 0) + (transB ? 2 : 0));
        int lda = transA ? shape.M : shape.K, ldb = transB ? shape.K : shape.N;
        double[] a = random.Uniform(shape.M * shape.K), b = random.Uniform(shape.K * shape.N), c = random.Uniform(shape.M * shape.N);
        if (type == DType.F32)
            foreach (double[] values in new[] { a, b, c })
                for (int i = 0; i < values.Length; i++) values[i] = (float)values[i];
        return new GemmInputs(a, b, c, lda, ldb, shape, transA, transB);
    }

    // C = 0.5 op(A) op(B) + C, as a weight gradient accumulates, with each operand at the offset.
    private static double[] RunGemm(CpuKernels kernels, bool transA, bool transB, (int M, int N, int K) shape, int offset, GemmInputs inputs)
    {
        using DeviceBuffer a = Shifted(kernels, inputs.A, offset), b = Shifted(kernels, inputs.B, offset), c = Shifted(kernels, inputs.C, offset);
        Tensor va = a.Slice(offset, inputs.A.Length), vb = b.Slice(offset, inputs.B.Length), vc = c.Slice(offset, inputs.C.Length);
        kernels.Gemm(transA, transB, shape.M, shape.N, shape.K, 0.5, va, inputs.Lda, vb, inputs.Ldb, 1, vc, shape.N);
        return kernels.Read(vc);
    }

    private static DeviceBuffer Shifted(CpuKernels kernels, double[] values, int offset)
    {
        var padded = new double[values.Length + offset];
        values.CopyTo(padded, offset);
        return kernels.Floats(padded);
    }

    // Within the error bound of a sum of K products, |error| <= 2 K eps sum_k |a b| + eps |c|.
    private static string? Compare(GemmInputs x, double[] actual, DType type)
    {
        double eps = Math.ScaleB(1, type == DType.F32 ? -24 : -53);
        var (m, n, k) = x.Shape;
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0, magnitude = 0;
                for (int p = 0; p < k; p++)
                {
                    double product = (x.TransA ? x.A[p * x.Lda + i] : x.A[i * x.Lda + p]) * (x.TransB ? x.B[j * x.Ldb + p] : x.B[p * x.Ldb + j]);
                    sum += product;
                    magnitude += Math.Abs(product);
                }
                double expected = 0.5 * sum + x.C[i * n + j];
                double bound = 2 * k * eps * 0.5 * magnitude + 2 * eps * Math.Abs(x.C[i * n + j]);
                double error = Math.Abs(actual[i * n + j] - expected);
                if (!(error <= bound)) return $"C[{i},{j}] = {actual[i * n + j]:R}, expected {expected:R} (error {error:E2} > bound {bound:E2})";
            }
        return null;
    }

    /// <summary>
    /// The kernels that run between a training step's GEMMs, at sizes past the parallel grain,
    /// two of them (attention, sampling) on schedule(dynamic) loops; <see cref="Run"/> returns
    /// every output.
    /// </summary>
    private sealed class OpenMpKernels(CpuKernels kernels)
    {
        private const int Sequences = 8, Length = 160, Heads = 4, KvHeads = 2, HeadDim = 32, Rows = 32, Vocab = 1031;
        private static readonly AttentionShape Shape = new(Heads, KvHeads, HeadDim, 1 / Math.Sqrt(HeadDim));

        public readonly string[] Names = ["attention output", "attention lse", "dq", "dk", "dv", "sampled tokens", "probs", "rmsnorm", "logp"];

        public List<double[]> Run()
        {
            var random = new Random(5);
            int n = Sequences * Length, qCount = n * Heads * HeadDim, kvCount = n * KvHeads * HeadDim;
            using DeviceBuffer q = kernels.Floats(random.Uniform(qCount, 2)), k = kernels.Floats(random.Uniform(kvCount, 2)),
                v = kernels.Floats(random.Uniform(kvCount)), dOut = kernels.Floats(random.Uniform(qCount)),
                cu = kernels.Ints(Enumerable.Range(0, Sequences + 1).Select(b => b * Length).ToArray());
            using DeviceBuffer output = kernels.Allocate(qCount, DType.F32), lse = kernels.Allocate(n * Heads, DType.F32),
                dq = kernels.Allocate(qCount, DType.F32), dk = kernels.Allocate(kvCount, DType.F32), dv = kernels.Allocate(kvCount, DType.F32);
            kernels.AttentionForward(output, lse, q, k, v, cu, Sequences, Shape);
            kernels.AttentionBackward(dq, dk, dv, dOut, output, lse, q, k, v, cu, Sequences, Shape);

            using DeviceBuffer logits = kernels.Floats(random.Uniform(Rows * Vocab, 6)),
                uniforms = kernels.Floats(Enumerable.Range(0, Rows).Select(_ => random.NextDouble()).ToArray()),
                probs = kernels.Allocate(Rows * Vocab, DType.F32), tokens = kernels.Allocate(Rows, DType.I32);
            kernels.SampleTopP(tokens, probs, logits, uniforms, Rows, Vocab, 0.7, 0.9);

            using DeviceBuffer x = kernels.Floats(random.Uniform(Rows * Vocab)), weight = kernels.Floats(random.Uniform(Vocab)),
                normed = kernels.Allocate(Rows * Vocab, DType.F32), rstd = kernels.Allocate(Rows, DType.F32);
            kernels.RmsNormForward(normed, rstd, x, weight, Rows, Vocab, 1e-5);

            using DeviceBuffer targets = kernels.Ints(Enumerable.Range(0, Rows).Select(r => (r * 37) % Vocab).ToArray()),
                logp = kernels.Allocate(Rows, DType.F32), gradWeights = kernels.Floats(Enumerable.Repeat(0.25, Rows).ToArray());
            kernels.TokenLogProbs(logits, logp, targets, gradWeights, Rows, Vocab);

            return [kernels.Read(output), kernels.Read(lse), kernels.Read(dq), kernels.Read(dk), kernels.Read(dv),
                kernels.ReadInts(tokens).Select(t => (double)t).ToArray(), kernels.Read(probs), kernels.Read(normed),
                [.. kernels.Read(logp), .. kernels.Read(logits)]];
        }
    }
}
