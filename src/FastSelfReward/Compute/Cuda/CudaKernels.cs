
namespace FastSelfReward.Compute.Cuda;

/// <summary>
/// <see cref="IKernels"/> on a CUDA device: kernels/*.cu launched through an <see cref="ICudaDevice"/>
/// (a real GPU or the emulator; this class cannot tell them apart), GEMMs in cuBLAS. Storage is fp32
/// (<see cref="DType.F32"/>) or bf16 (<see cref="DType.BF16"/>) per tensor, arithmetic fp32;
/// parameter gradients (embedding, RMSNorm weight) and rstd are fp32 whatever the activations are.
/// </summary>
/// <remarks>
/// Shapes, types and extents are checked on the host before every launch, as
/// <see cref="CpuKernels"/> does. Token ids are not: they live in device memory, and reading them
/// back would stall the stream on every call; they come from the tokenizer and the data loader,
/// which check them. Launches are asynchronous; <see cref="Download(Tensor, Span{float})"/> and
/// its overloads wait for the device first.
/// </remarks>
public sealed unsafe partial class CudaKernels : IKernels
{
    private const int ElementwiseBlock = 256;
    // Enough blocks for every SM of the largest GPUs several times over; a grid-stride loop
    // covers the rest, so no launch is sized by the data alone.
    private const uint MaxElementwiseBlocks = 4096;
    // Thread blocks the embedding backward aims for (column blocks × vocab slices).
    private const long EmbeddingBackwardBlocks = 512;

    private readonly ICudaDevice _device;
    private readonly bool _ownsDevice;
    private readonly Dictionary<(string File, string Name), CudaFunction> _functions = [];
    private readonly Lock _lock = new();

    /// <param name="device">The GPU, real or emulated.</param>
    /// <param name="ownsDevice">Whether <see cref="Dispose"/> disposes <paramref name="device"/>.</param>
    /// <param name="modelType">
    /// <see cref="ModelType"/>: BF16 (mixed precision, as llm.c trains: bf16 weights and activations, fp32
    /// master weights, gradients and moments) or F32 (everything fp32, for parity checks).
    /// </param>
    public CudaKernels(ICudaDevice device, bool ownsDevice = true, DType modelType = DType.BF16)
    {
        _device = device;
        _ownsDevice = ownsDevice;
        ModelType = StorageType(new Tensor(0, 0, modelType), nameof(modelType));
    }

    /// <summary>The device the kernels run on.</summary>
    public ICudaDevice Device => _device;

    public string Name => "cuda";

    public string Describe() => _device.Name;

    public DType ModelType { get; }

    public void Dispose()
    {
        _sumSquaresScratch?.Dispose();
        if (_ownsDevice) _device.Dispose();
    }

    /// <summary>Waits for the device to finish every launch, GEMM and copy queued so far.</summary>
    public void Synchronize() => _device.Synchronize();

    /// <summary>Zero-filled device memory, aligned to 256 bytes.</summary>
    public DeviceBuffer Allocate(long length, DType type)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        long bytes = checked(length * type.Size());
        nint address = _device.Allocate(bytes);
        _device.Memset(address, 0, bytes);
        return new DeviceBuffer(address, length, type, _device.Free);
    }

    /// <summary>Copies <paramref name="source"/> to the start of an F32, BF16 or F64 tensor, converting to its type.</summary>
    public void Upload(Tensor destination, ReadOnlySpan<float> source)
    {
        switch (destination.Type)
        {
            case DType.F32:
                Put(destination, source, nameof(destination));
                break;
            case DType.BF16:
                var bits = new ushort[source.Length];
                for (int i = 0; i < bits.Length; i++) bits[i] = BFloat16.FromFloat(source[i]);
                Put<ushort>(destination, bits, nameof(destination));
                break;
            case DType.F64:
                var wide = new double[source.Length];
                for (int i = 0; i < wide.Length; i++) wide[i] = source[i];
                Put<double>(destination, wide, nameof(destination));
                break;
            default:
                throw new ArgumentException($"destination: cannot hold float values as {destination.Type}", nameof(destination));
        }
    }

    /// <summary>Copies <paramref name="source"/> to the start of an F64, F32 or BF16 tensor, converting to its type.</summary>
    public void Upload(Tensor destination, ReadOnlySpan<double> source)
    {
        if (destination.Type == DType.F64)
        {
            Put(destination, source, nameof(destination));
            return;
        }
        var narrow = new float[source.Length];
        for (int i = 0; i < narrow.Length; i++) narrow[i] = (float)source[i];
        Upload(destination, narrow);
    }

    /// <summary>Copies <paramref name="source"/> to the start of an I32 tensor.</summary>
    public void Upload(Tensor destination, ReadOnlySpan<int> source)
    {
        Expect(destination, DType.I32, source.Length, nameof(destination));
        Put(destination, source, nameof(destination));
    }

    /// <summary>Waits for the device, then reads the start of an F32, BF16 or F64 tensor as floats.</summary>
    public void Download(Tensor source, Span<float> destination)
    {
        switch (source.Type)
        {
            case DType.F32:
                Get(source, destination, nameof(source));
                break;
            case DType.BF16:
                var bits = new ushort[destination.Length];
                Get<ushort>(source, bits, nameof(source));
                for (int i = 0; i < bits.Length; i++) destination[i] = BFloat16.ToFloat(bits[i]);
                break;
            case DType.F64:
                var wide = new double[destination.Length];
                Get<double>(source, wide, nameof(source));
                for (int i = 0; i < wide.Length; i++) destination[i] = (float)wide[i];
                break;
            default:
                throw new ArgumentException($"source: {source.Type} values cannot be read as float", nameof(source));
        }
    }

    /// <summary>Waits for the device, then reads the start of an F64, F32 or BF16 tensor as doubles.</summary>
    public void Download(Tensor source, Span<double> destination)
    {
        if (source.Type == DType.F64)
        {
            Get(source, destination, nameof(source));
            return;
        }
        var narrow = new float[destination.Length];
        Download(source, narrow);
        for (int i = 0; i < narrow.Length; i++) destination[i] = narrow[i];
    }

    /// <summary>Waits for the device, then reads the start of an I32 tensor.</summary>
    public void Download(Tensor source, Span<int> destination)
    {
        Expect(source, DType.I32, destination.Length, nameof(source));
        Get(source, destination, nameof(source));
    }

    public void Copy(Tensor destination, Tensor source)
    {
        if (destination.Type != source.Type || destination.Length != source.Length)
            throw new ArgumentException(
                $"destination: expected {source.Type}[{source.Length}] like source, got {destination.Type}[{destination.Length}]",
                nameof(destination));
        _device.CopyDeviceToDevice(destination.Address, source.Address, source.Bytes);
    }

    public void Zero(Tensor tensor) => _device.Memset(tensor.Address, 0, tensor.Bytes);

    /// <summary>F32 ↔ BF16 by cast.cu (round to nearest even when narrowing); same type is a copy.</summary>
    public void Cast(Tensor destination, Tensor source, long count)
    {
        NonNegative(count, nameof(count));
        Expect(source, source.Type, count, nameof(source));
        Expect(destination, destination.Type, count, nameof(destination));
        if (source.Type == destination.Type)
        {
            Copy(destination.Slice(0, count), source.Slice(0, count));
            return;
        }
        string kernel = (source.Type, destination.Type) switch
        {
            (DType.F32, DType.BF16) => "cast_f32_to_bf16",
            (DType.BF16, DType.F32) => "cast_bf16_to_f32",
            _ => throw new ArgumentException($"destination: cannot cast {source.Type} to {destination.Type} on CUDA", nameof(destination)),
        };
        if (count == 0) return;
        nint dst = destination.Address, src = source.Address;
        void** args = stackalloc void*[] { &dst, &src, &count };
        Launch("cast.cu", kernel, ElementwiseGrid(count, 4), new Dim3(ElementwiseBlock), args);
    }

    /// <summary>
    /// Row-major C = α op(A) op(B) + β C as one cuBLAS call. A row-major matrix with row stride ld
    /// is, read column-major, its transpose with leading dimension ld; so Cᵀ = op(B)ᵀ op(A)ᵀ is the
    /// column-major GEMM with the operands swapped, the transposes kept and m, n exchanged.
    /// A and B are F32 or BF16 (the same), C is F32 or BF16; accumulation is fp32.
    /// </summary>
    public void Gemm(bool transA, bool transB, long m, long n, long k, double alpha, Tensor a, long lda, Tensor b, long ldb,
        double beta, Tensor c, long ldc)
    {
        NonNegative(m, nameof(m));
        NonNegative(n, nameof(n));
        NonNegative(k, nameof(k));
        DType operandType = StorageType(a, nameof(a));
        if (b.Type != operandType) throw new ArgumentException($"b: expected {operandType} like a, got {b.Type}", nameof(b));
        StorageType(c, nameof(c));
        Matrix(a, transA ? k : m, transA ? m : k, lda, nameof(a), nameof(lda));
        Matrix(b, transB ? n : k, transB ? k : n, ldb, nameof(b), nameof(ldb));
        Matrix(c, m, n, ldc, nameof(c), nameof(ldc));
        if (m == 0 || n == 0) return;
        _device.GemmStridedBatched(transB, transA, Int(n, nameof(n)), Int(m, nameof(m)), Int(k, nameof(k)), (float)alpha,
            b.Address, DataType(b.Type), Int(ldb, nameof(ldb)), 0,
            a.Address, DataType(a.Type), Int(lda, nameof(lda)), 0, (float)beta,
            c.Address, DataType(c.Type), Int(ldc, nameof(ldc)), 0, 1);
    }

    public void EmbeddingForward(Tensor output, Tensor tokens, Tensor table, long n, long dim)
    {
        long count = Elements(n, dim, nameof(n), nameof(dim));
        DType type = StorageType(table, nameof(table));
        Expect(output, type, count, nameof(output));
        Expect(tokens, DType.I32, n, nameof(tokens));
        if (count == 0) return;
        nint o = output.Address, t = tokens.Address, w = table.Address;
        void** args = stackalloc void*[] { &o, &t, &w, &dim };
        // Sized for 16-byte packs; the kernel's column loop is grid-strided, so an unpacked row is covered too.
        Launch("embedding.cu", $"embedding_forward_{Suffix(type)}", new Dim3(Blocks(n, 1), Blocks(dim, ElementwiseBlock * (16 / type.Size()))),
            new Dim3(ElementwiseBlock), args);
    }

    /// <summary>dTable (F32) += the rows of dOutput (F32 or BF16), deterministically (no atomics; see embedding.cu).</summary>
    public void EmbeddingBackward(Tensor dTable, Tensor dOutput, Tensor tokens, long n, long dim)
    {
        long count = Elements(n, dim, nameof(n), nameof(dim));
        if (dim < 1) throw new ArgumentOutOfRangeException(nameof(dim), dim, "dim must be >= 1");
        DType type = StorageType(dOutput, nameof(dOutput));
        Expect(dOutput, type, count, nameof(dOutput));
        Expect(dTable, DType.F32, dim, nameof(dTable));
        Expect(tokens, DType.I32, n, nameof(tokens));
        if (count == 0) return;
        long vocab = dTable.Length / dim;
        long columnBlocks = (dim + ElementwiseBlock - 1) / ElementwiseBlock;
        long slices = Math.Clamp((EmbeddingBackwardBlocks + columnBlocks - 1) / columnBlocks, 1, Math.Min(Math.Min(vocab, n), 65535));
        nint d = dTable.Address, g = dOutput.Address, t = tokens.Address;
        void** args = stackalloc void*[] { &d, &g, &t, &n, &dim };
        Launch("embedding.cu", $"embedding_backward_{Suffix(type)}", new Dim3(Blocks(dim, ElementwiseBlock), (uint)slices),
            new Dim3(ElementwiseBlock), args);
    }

    /// <summary>x, weight, output F32 or BF16 (the same); rstd F32.</summary>
    public void RmsNormForward(Tensor output, Tensor rstd, Tensor x, Tensor weight, long n, long dim, double eps)
    {
        long count = Elements(n, dim, nameof(n), nameof(dim));
        DType type = StorageType(x, nameof(x));
        Expect(x, type, count, nameof(x));
        Expect(output, type, count, nameof(output));
        Expect(weight, type, dim, nameof(weight));
        Expect(rstd, DType.F32, n, nameof(rstd));
        if (n == 0) return;
        nint o = output.Address, r = rstd.Address, xx = x.Address, w = weight.Address;
        float e = (float)eps;
        void** args = stackalloc void*[] { &o, &r, &xx, &w, &dim, &e };
        Launch("rmsnorm.cu", $"rmsnorm_forward_{Suffix(type)}", new Dim3(Blocks(n, 1)), new Dim3(RowBlock(dim)), args);
    }

    /// <summary>dx, dOutput, x, weight F32 or BF16 (the same); rstd and dWeight F32.</summary>
    public void RmsNormBackward(Tensor dx, Tensor dWeight, Tensor dOutput, Tensor x, Tensor weight, Tensor rstd, long n, long dim)
    {
        long count = Elements(n, dim, nameof(n), nameof(dim));
        DType type = StorageType(x, nameof(x));
        Expect(x, type, count, nameof(x));
        Expect(dx, type, count, nameof(dx));
        Expect(dOutput, type, count, nameof(dOutput));
        Expect(weight, type, dim, nameof(weight));
        Expect(rstd, DType.F32, n, nameof(rstd));
        Expect(dWeight, DType.F32, dim, nameof(dWeight));
        if (n == 0 || dim == 0) return;
        nint dxa = dx.Address, dw = dWeight.Address, g = dOutput.Address, xx = x.Address, w = weight.Address, r = rstd.Address;
        void** rowArgs = stackalloc void*[] { &dxa, &g, &xx, &w, &r, &dim };
        Launch("rmsnorm.cu", $"rmsnorm_backward_{Suffix(type)}", new Dim3(Blocks(n, 1)), new Dim3(RowBlock(dim)), rowArgs);
        void** weightArgs = stackalloc void*[] { &dw, &g, &xx, &r, &n, &dim };
        Launch("rmsnorm.cu", $"rmsnorm_backward_weight_{Suffix(type)}", new Dim3(Blocks(dim, 32)), new Dim3(32, 32), weightArgs);
    }

    public void ResidualForward(Tensor output, Tensor a, Tensor b, long count)
    {
        NonNegative(count, nameof(count));
        DType type = StorageType(a, nameof(a));
        Expect(a, type, count, nameof(a));
        Expect(b, type, count, nameof(b));
        Expect(output, type, count, nameof(output));
        if (count == 0) return;
        nint o = output.Address, x = a.Address, y = b.Address;
        void** args = stackalloc void*[] { &o, &x, &y, &count };
        Launch("residual.cu", $"residual_forward_{Suffix(type)}", ElementwiseGrid(count, 16 / type.Size()), new Dim3(ElementwiseBlock), args);
    }

    public void ResidualBackward(Tensor destination, Tensor source, long count)
    {
        NonNegative(count, nameof(count));
        DType type = StorageType(destination, nameof(destination));
        Expect(destination, type, count, nameof(destination));
        Expect(source, type, count, nameof(source));
        if (count == 0) return;
        nint d = destination.Address, s = source.Address;
        void** args = stackalloc void*[] { &d, &s, &count };
        Launch("residual.cu", $"residual_backward_{Suffix(type)}", ElementwiseGrid(count, 16 / type.Size()), new Dim3(ElementwiseBlock), args);
    }

    private void Launch(string file, string kernel, Dim3 grid, Dim3 block, void** arguments, int sharedBytes = 0)
    {
        CudaFunction function;
        lock (_lock)
        {
            if (!_functions.TryGetValue((file, kernel), out function))
                _functions[(file, kernel)] = function = _device.Function(file, kernel);
        }
        _device.Launch(function, grid, block, sharedBytes, arguments);
    }

    private void Put<T>(Tensor destination, ReadOnlySpan<T> source, string name) where T : unmanaged
    {
        Expect(destination, destination.Type, source.Length, name);
        fixed (T* p = source) _device.CopyHostToDevice(destination.Address, p, (long)source.Length * sizeof(T));
    }

    private void Get<T>(Tensor source, Span<T> destination, string name) where T : unmanaged
    {
        Expect(source, source.Type, destination.Length, name);
        // Launches may still be queued (a real stream is asynchronous, and so is the emulator's
        // deferred mode); the seam promises nothing about copies waiting for them.
        _device.Synchronize();
        fixed (T* p = destination) _device.CopyDeviceToHost(p, source.Address, (long)destination.Length * sizeof(T));
    }

    // One block per row: 256 threads once a row has that many columns (each thread then reads a
    // strided set of columns), else the row rounded up to whole warps, which block_sum requires.
    private static uint RowBlock(long dim) => dim >= 256 ? 256u : (uint)Math.Max(32, (dim + 31) / 32 * 32);

    // Elementwise kernels move 16 bytes per thread per iteration when aligned (residual.cu, cast.cu).
    private static Dim3 ElementwiseGrid(long count, int elementsPerThread)
    {
        long perBlock = (long)ElementwiseBlock * elementsPerThread;
        return new((uint)Math.Min((count + perBlock - 1) / perBlock, MaxElementwiseBlocks));
    }

    private static uint Blocks(long count, long perBlock)
    {
        long blocks = (count + perBlock - 1) / perBlock;
        if (blocks > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(count), count, $"{count} exceeds one launch's grid");
        return (uint)blocks;
    }

    private static string Suffix(DType type) => type == DType.BF16 ? "bf16" : "f32";

    private static CudaDataType DataType(DType type) => type == DType.BF16 ? CudaDataType.BF16 : CudaDataType.F32;

    private static DType StorageType(Tensor tensor, string name) =>
        tensor.Type is DType.F32 or DType.BF16
            ? tensor.Type
            : throw new ArgumentException($"{name}: expected F32 or BF16 storage on CUDA, got {tensor.Type}", name);

    private static void Expect(Tensor tensor, DType type, long length, string name)
    {
        tensor.Expect(type, length, name);
        if (length > 0 && tensor.Address == 0) throw new ArgumentException($"{name}: null address", name);
    }

    private static void NonNegative(long value, string name)
    {
        if (value < 0) throw new ArgumentOutOfRangeException(name, value, $"{name} must be >= 0");
    }

    private static long Elements(long rows, long width, string rowsName, string widthName)
    {
        NonNegative(rows, rowsName);
        NonNegative(width, widthName);
        return checked(rows * width);
    }

    private static int Int(long value, string name) =>
        value <= int.MaxValue ? (int)value : throw new ArgumentOutOfRangeException(name, value, $"{name} exceeds cuBLAS's 32-bit sizes");

    /// <summary>Checks a row-major matrix view: rows × cols elements with row stride ld ≥ cols.</summary>
    private static void Matrix(Tensor tensor, long rows, long cols, long ld, string name, string ldName)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException(ldName, ld, $"{ldName} must be >= max(1, {cols}), the row width of {name}");
        Expect(tensor, tensor.Type, rows == 0 || cols == 0 ? 0 : checked((rows - 1) * ld + cols), name);
    }
}
