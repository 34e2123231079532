using System.Runtime.InteropServices;
using System.Text;
using FastSelfReward.Interop;

namespace FastSelfReward.Compute.Cuda;

/// <summary>How an <see cref="EmulatedCudaDevice"/> runs kernels; the defaults behave like a GPU.</summary>
public sealed record EmulatorOptions
{
    /// <summary>Run each block's threads last to first: code that misses a barrier computes a different result.</summary>
    public bool ReverseOrder { get; init; }

    /// <summary>
    /// Queue launches, GEMMs, memsets, frees and copies into device memory until <see cref="ICudaDevice.Synchronize"/>,
    /// as an asynchronous stream does; copies to the host do not wait, so a missing synchronize shows.
    /// </summary>
    public bool DeferredLaunches { get; init; }

    /// <summary>OS threads that run blocks; 0 means one per core.</summary>
    public int Workers { get; init; }
}

/// <summary>
/// The emulated GPU: kernels/*.cu compiled by g++ into libfsr_cuda_emu and run on the CPU
/// (native/cuda_emu), cuBLAS's GEMM by a CPU BLAS with the same column-major semantics. It checks
/// what a GPU would refuse or what would only go wrong on one: launches beyond sm_90's limits,
/// misaligned or non-device pointers, divergent barriers and deadlocks (errors naming the
/// source lines), reads of memory nobody wrote (NaN-poisoned allocations and shared memory).
/// Each instance is its own stream with its own options; device memory is shared by all.
/// </summary>
public sealed unsafe class EmulatedCudaDevice : ICudaDevice
{
    private const int ErrorCapacity = 2048;
    private nint _context;

    public EmulatedCudaDevice(EmulatorOptions? options = null)
    {
        options ??= new EmulatorOptions();
        ArgumentOutOfRangeException.ThrowIfNegative(options.Workers);
        Options = options;
        _context = CudaEmu.fsr_emu_create_context(options.ReverseOrder ? 1 : 0, options.DeferredLaunches ? 1 : 0, options.Workers);
    }

    public EmulatorOptions Options { get; }

    public string Name => "emulated sm_90 (CPU)"
        + (Options.ReverseOrder ? ", reverse order" : "")
        + (Options.DeferredLaunches ? ", deferred launches" : "");

    public nint Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        nint address;
        byte* error = stackalloc byte[ErrorCapacity];
        Check(CudaEmu.fsr_emu_malloc(bytes, &address, error, ErrorCapacity), error, $"Allocate({bytes})");
        return address;
    }

    public void Free(nint address)
    {
        byte* error = stackalloc byte[ErrorCapacity];
        Check(CudaEmu.fsr_emu_free(Context, address, error, ErrorCapacity), error, "Free");
    }

    public void CopyHostToDevice(nint destination, void* source, long bytes)
    {
        byte* error = stackalloc byte[ErrorCapacity];
        Check(CudaEmu.fsr_emu_memcpy_htod(Context, destination, source, bytes, error, ErrorCapacity), error, "CopyHostToDevice");
    }

    public void CopyDeviceToHost(void* destination, nint source, long bytes)
    {
        byte* error = stackalloc byte[ErrorCapacity];
        Check(CudaEmu.fsr_emu_memcpy_dtoh(Context, destination, source, bytes, error, ErrorCapacity), error, "CopyDeviceToHost");
    }

    public void CopyDeviceToDevice(nint destination, nint source, long bytes)
    {
        byte* error = stackalloc byte[ErrorCapacity];
        Check(CudaEmu.fsr_emu_memcpy_dtod(Context, destination, source, bytes, error, ErrorCapacity), error, "CopyDeviceToDevice");
    }

    public void Memset(nint destination, byte value, long bytes)
    {
        byte* error = stackalloc byte[ErrorCapacity];
        Check(CudaEmu.fsr_emu_memset(Context, destination, value, bytes, error, ErrorCapacity), error, "Memset");
    }

    /// <summary>
    /// The kernel, registered in libfsr_cuda_emu under its extern "C" name by FSR_REGISTER_KERNEL.
    /// It must be defined in <paramref name="file"/>, as on a GPU, where only that file is compiled.
    /// </summary>
    public CudaFunction Function(string file, string name)
    {
        byte[] utf8 = Encoding.UTF8.GetBytes(name + "\0");
        nint kernel;
        fixed (byte* p = utf8) kernel = CudaEmu.fsr_emu_find_kernel(p);
        if (kernel == 0)
            throw new CudaException("CUDA emulator", $"Function({file}, {name})", 1, "FSR_EMU_NOT_FOUND",
                $"no kernel named {name} is registered in libfsr_cuda_emu (is kernels/{file} built into it, with FSR_REGISTER_KERNEL({name})?)");
        string definedIn = Marshal.PtrToStringUTF8((nint)CudaEmu.fsr_emu_kernel_file(kernel)) ?? "";
        if (definedIn != file && !definedIn.EndsWith("/" + file, StringComparison.Ordinal))
            throw new CudaException("CUDA emulator", $"Function({file}, {name})", 1, "FSR_EMU_NOT_FOUND",
                $"{name} is defined in {Path.GetFileName(definedIn)}, not in {file}");
        return new CudaFunction(file, name, kernel);
    }

    public void Launch(CudaFunction function, Dim3 grid, Dim3 block, int sharedBytes, void** arguments)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sharedBytes);
        byte* error = stackalloc byte[ErrorCapacity];
        Check(CudaEmu.fsr_emu_launch(Context, function.Handle, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z,
            (uint)sharedBytes, arguments, error, ErrorCapacity), error, $"Launch({function.Name})");
    }

    /// <summary>Registers per thread, as reported by <c>-Xptxas -v</c>: enables the registers × threads ≤ 65536 check.</summary>
    public void SetRegisterCount(CudaFunction function, int registers)
    {
        byte* error = stackalloc byte[ErrorCapacity];
        Check(CudaEmu.fsr_emu_set_register_count(Context, function.Handle, registers, error, ErrorCapacity), error,
            $"SetRegisterCount({function.Name})");
    }

    /// <summary>Opts a kernel in to more than 48 KiB of dynamic shared memory (at most 227 KiB), like cuFuncSetAttribute.</summary>
    public void SetMaxDynamicSharedBytes(CudaFunction function, int bytes)
    {
        byte* error = stackalloc byte[ErrorCapacity];
        Check(CudaEmu.fsr_emu_set_max_dynamic_shared(Context, function.Handle, bytes, error, ErrorCapacity), error,
            $"SetMaxDynamicSharedBytes({function.Name})");
    }

    public void GemmStridedBatched(bool transA, bool transB, int m, int n, int k, float alpha,
        nint a, CudaDataType aType, int lda, long strideA,
        nint b, CudaDataType bType, int ldb, long strideB, float beta,
        nint c, CudaDataType cType, int ldc, long strideC, int batch)
    {
        byte* error = stackalloc byte[ErrorCapacity];
        Check(CudaEmu.fsr_emu_gemm_strided_batched(Context, transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha,
            a, (int)aType, lda, strideA, b, (int)bType, ldb, strideB, beta, c, (int)cType, ldc, strideC, batch,
            error, ErrorCapacity), error, "GemmStridedBatched");
    }

    public void Synchronize()
    {
        byte* error = stackalloc byte[ErrorCapacity];
        Check(CudaEmu.fsr_emu_synchronize(Context, error, ErrorCapacity), error, "Synchronize");
    }

    public void Dispose()
    {
        if (_context == 0) return;
        CudaEmu.fsr_emu_destroy_context(_context);
        _context = 0;
    }

    private nint Context => _context != 0 ? _context : throw new ObjectDisposedException(nameof(EmulatedCudaDevice));

    private static void Check(int status, byte* error, string call)
    {
        if (status == 0) return;
        string text = Marshal.PtrToStringUTF8((nint)error) ?? "";
        throw new CudaException("CUDA emulator", call, status, "FSR_EMU_ERROR", text);
    }
}
