using System.Runtime.InteropServices;
using FastSelfReward.Interop;

namespace FastSelfReward.Compute.Cuda;

/// <summary>One GPU as the driver reports it.</summary>
/// <param name="Ordinal">Its index in the driver's order.</param>
/// <param name="Name">"NVIDIA H200".</param>
/// <param name="TotalMemory">Bytes of device memory.</param>
/// <param name="Major">Compute capability, major.</param>
/// <param name="Minor">Compute capability, minor.</param>
/// <param name="Multiprocessors">Streaming multiprocessors.</param>
/// <param name="DriverVersion">The driver's CUDA version (13.0 for driver 580).</param>
public sealed record CudaDeviceInfo(int Ordinal, string Name, long TotalMemory, int Major, int Minor, int Multiprocessors,
    Version DriverVersion)
{
    public string Architecture => $"sm_{Major}{Minor}";

    public override string ToString() =>
        $"{Ordinal}: {Name}, {TotalMemory / (1L << 30)} GiB, compute capability {Major}.{Minor} ({Architecture}), " +
        $"{Multiprocessors} SMs, driver CUDA {DriverVersion}";
}

/// <summary>
/// <see cref="ICudaDevice"/> on a real GPU through the CUDA driver API: the device's primary
/// context (the one the CUDA runtime and every library share), made current on whichever thread
/// calls in; kernels compiled by NVRTC for the device's own architecture and loaded as modules;
/// GEMMs in cuBLAS. Everything runs on the legacy default stream, so launches, GEMMs and copies are
/// ordered among themselves; <see cref="Synchronize"/> waits for all of them.
/// </summary>
/// <remarks>
/// Lifetimes are explicit: <see cref="Dispose"/> destroys the cuBLAS handle, unloads the modules
/// and releases the primary context, in that order. There are no finalizers: one could run on a
/// thread with no context, after the context is gone, and a process's device resources die with it.
/// Device memory is freed by its owner through <see cref="Free"/> before the device is disposed.
/// </remarks>
public sealed unsafe class RealCudaDevice : ICudaDevice
{
    private readonly int _device;
    private readonly nint _context;
    private readonly nint _cublas;
    private readonly NvrtcCompiler _compiler;
    private readonly string _target;
    private readonly Version _cublasVersion;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, nint> _modules = new(StringComparer.Ordinal);
    private readonly Dictionary<(string File, string Name), nint> _functions = [];
    private readonly Dictionary<nint, int> _dynamicSharedLimit = [];
    private bool _disposed;

    /// <param name="ordinal">Which GPU (0-based, in the driver's order).</param>
    /// <param name="cacheDirectory">Compiled-kernel cache; null for <see cref="NvrtcCompiler.DefaultCacheDirectory"/>.</param>
    /// <exception cref="DllNotFoundException">No CUDA driver or NVRTC could be loaded.</exception>
    /// <exception cref="CudaException">The driver or cuBLAS refused (no device, out of memory, ...).</exception>
    public RealCudaDevice(int ordinal = 0, string? cacheDirectory = null)
    {
        CudaDriver.Check(CudaDriver.cuInit(0), "cuInit");
        int device;
        CudaDriver.Check(CudaDriver.cuDeviceGet(&device, ordinal), $"cuDeviceGet({ordinal})");
        _device = device;
        Info = Describe(ordinal, device);
        _compiler = new NvrtcCompiler(cacheDirectory ?? NvrtcCompiler.DefaultCacheDirectory());
        _target = _compiler.TargetFor(Info.Major, Info.Minor);
        nint context;
        CudaDriver.Check(CudaDriver.cuDevicePrimaryCtxRetain(&context, device), "cuDevicePrimaryCtxRetain");
        _context = context;
        try
        {
            Enter();
            nint handle;
            CuBlas.Check(CuBlas.cublasCreate_v2(&handle), "cublasCreate_v2");
            _cublas = handle;
            CuBlas.Check(CuBlas.cublasSetStream_v2(_cublas, 0), "cublasSetStream_v2");
            int version;
            CuBlas.Check(CuBlas.cublasGetVersion_v2(_cublas, &version), "cublasGetVersion_v2");
            _cublasVersion = new Version(version / 10000, version / 100 % 100, version % 100);
        }
        catch
        {
            CudaDriver.cuDevicePrimaryCtxRelease_v2(device);
            throw;
        }
    }

    /// <summary>What the driver says about this GPU.</summary>
    public CudaDeviceInfo Info { get; }

    public string Name =>
        $"{Info.Name} ({Info.Architecture}, kernels for {_target} by NVRTC {_compiler.Version}, cuBLAS {_cublasVersion}, driver CUDA {Info.DriverVersion})";

    /// <summary>
    /// Every GPU the driver sees. Empty, with <paramref name="whyNone"/> set, when there is no
    /// driver, no device, or the driver fails to initialise.
    /// </summary>
    public static IReadOnlyList<CudaDeviceInfo> Enumerate(out string? whyNone)
    {
        try
        {
            int result = CudaDriver.cuInit(0);
            if (result == CudaDriver.CUDA_ERROR_NO_DEVICE)
            {
                whyNone = "the CUDA driver is installed but reports no device";
                return [];
            }
            CudaDriver.Check(result, "cuInit");
            int count;
            CudaDriver.Check(CudaDriver.cuDeviceGetCount(&count), "cuDeviceGetCount");
            var devices = new List<CudaDeviceInfo>(count);
            for (int i = 0; i < count; i++)
            {
                int device;
                CudaDriver.Check(CudaDriver.cuDeviceGet(&device, i), $"cuDeviceGet({i})");
                devices.Add(Describe(i, device));
            }
            whyNone = count == 0 ? "the CUDA driver reports no device" : null;
            return devices;
        }
        catch (DllNotFoundException e)
        {
            // The common case, no driver installed at all, gets one line; any other load failure
            // (a driver whose dependencies are missing, say) keeps the resolver's full trace.
            bool absent = e.Message.Split('\n').Where(line => line.StartsWith('/'))
                .All(line => line.EndsWith("No such file or directory", StringComparison.Ordinal));
            whyNone = absent ? "no CUDA driver: libcuda.so.1 is not installed" : $"the CUDA driver does not load: {e.Message}";
            return [];
        }
        catch (CudaException e)
        {
            whyNone = e.Message;
            return [];
        }
    }

    private static CudaDeviceInfo Describe(int ordinal, int device)
    {
        byte* name = stackalloc byte[256];
        CudaDriver.Check(CudaDriver.cuDeviceGetName(name, 256, device), "cuDeviceGetName");
        nuint memory;
        CudaDriver.Check(CudaDriver.cuDeviceTotalMem_v2(&memory, device), "cuDeviceTotalMem_v2");
        int driver;
        CudaDriver.Check(CudaDriver.cuDriverGetVersion(&driver), "cuDriverGetVersion");
        return new CudaDeviceInfo(ordinal, Marshal.PtrToStringUTF8((nint)name)!, (long)memory,
            Attribute(device, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
            Attribute(device, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
            Attribute(device, CudaDriver.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT),
            new Version(driver / 1000, driver % 1000 / 10));
    }

    private static int Attribute(int device, int attribute)
    {
        int value;
        CudaDriver.Check(CudaDriver.cuDeviceGetAttribute(&value, attribute, device), $"cuDeviceGetAttribute({attribute})");
        return value;
    }

    // The driver keeps the current context per OS thread; a .NET caller may be on any thread
    // (a thread-pool continuation, a test runner), so every entry point makes it current. It is a
    // thread-local store inside the driver.
    private void Enter()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        CudaDriver.Check(CudaDriver.cuCtxSetCurrent(_context), "cuCtxSetCurrent");
    }

    public nint Allocate(long bytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytes);
        Enter();
        ulong address;
        // cuMemAlloc rejects zero bytes; an empty buffer still gets a distinct address. Its
        // allocations are aligned to at least 256 bytes.
        int result = CudaDriver.cuMemAlloc_v2(&address, (nuint)Math.Max(bytes, 1));
        if (result == CudaDriver.CUDA_ERROR_OUT_OF_MEMORY)
        {
            // Say how far off the request is, so the user can size the micro-batch or precision.
            nuint free = 0, total = 0;
            CudaDriver.cuMemGetInfo_v2(&free, &total);
            throw CudaDriver.Error(result, $"cuMemAlloc_v2 of {Gib(bytes)} with {Gib((long)free)} free of {Gib((long)total)} on {Info.Name} " +
                "(fewer micro_batch_tokens, or --precision bf16, need less)");
        }
        CudaDriver.Check(result, $"cuMemAlloc_v2({bytes} bytes)");
        return (nint)address;
    }

    private static string Gib(long bytes) => $"{bytes / (double)(1L << 30):F2} GiB";

    public void Free(nint address)
    {
        Enter();
        CudaDriver.Check(CudaDriver.cuMemFree_v2((ulong)address), "cuMemFree_v2");
    }

    public void CopyHostToDevice(nint destination, void* source, long bytes)
    {
        if (bytes == 0) return;
        Enter();
        CudaDriver.Check(CudaDriver.cuMemcpyHtoD_v2((ulong)destination, source, (nuint)bytes), "cuMemcpyHtoD_v2");
    }

    public void CopyDeviceToHost(void* destination, nint source, long bytes)
    {
        if (bytes == 0) return;
        Enter();
        CudaDriver.Check(CudaDriver.cuMemcpyDtoH_v2(destination, (ulong)source, (nuint)bytes), "cuMemcpyDtoH_v2");
    }

    public void CopyDeviceToDevice(nint destination, nint source, long bytes)
    {
        if (bytes == 0) return;
        Enter();
        CudaDriver.Check(CudaDriver.cuMemcpyDtoD_v2((ulong)destination, (ulong)source, (nuint)bytes), "cuMemcpyDtoD_v2");
    }

    public void Memset(nint destination, byte value, long bytes)
    {
        if (bytes == 0) return;
        Enter();
        CudaDriver.Check(CudaDriver.cuMemsetD8_v2((ulong)destination, value, (nuint)bytes), "cuMemsetD8_v2");
    }

    /// <summary>Compiles (or reads from the cache) kernels/<paramref name="file"/> once, loads it, and resolves the kernel.</summary>
    public CudaFunction Function(string file, string name)
    {
        lock (_lock)
        {
            Enter();
            if (_functions.TryGetValue((file, name), out nint cached)) return new CudaFunction(file, name, cached);
            if (!_modules.TryGetValue(file, out nint module))
            {
                CompiledKernels compiled = _compiler.Compile(KernelSources.Load(file), _target);
                fixed (byte* image = compiled.Image)
                    CudaDriver.Check(CudaDriver.cuModuleLoadData(&module, image), $"cuModuleLoadData({file}, {_target})");
                _modules[file] = module;
            }
            nint function;
            byte[] utf8 = System.Text.Encoding.UTF8.GetBytes(name + "\0");
            fixed (byte* p = utf8)
                CudaDriver.Check(CudaDriver.cuModuleGetFunction(&function, module, p), $"cuModuleGetFunction({file}: {name})");
            _functions[(file, name)] = function;
            return new CudaFunction(file, name, function);
        }
    }

    public void Launch(CudaFunction function, Dim3 grid, Dim3 block, int sharedBytes, void** arguments)
    {
        Enter();
        // Above 48 KiB a kernel must opt in to dynamic shared memory, once per size it grows to.
        if (sharedBytes > 48 * 1024)
        {
            lock (_lock)
            {
                if (!_dynamicSharedLimit.TryGetValue(function.Handle, out int limit) || limit < sharedBytes)
                {
                    CudaDriver.Check(CudaDriver.cuFuncSetAttribute(function.Handle,
                        CudaDriver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, sharedBytes),
                        $"cuFuncSetAttribute({function.Name}, max dynamic shared {sharedBytes})");
                    _dynamicSharedLimit[function.Handle] = sharedBytes;
                }
            }
        }
        CudaDriver.Check(CudaDriver.cuLaunchKernel(function.Handle, grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z,
            (uint)sharedBytes, 0, arguments, null), $"cuLaunchKernel({function.File}: {function.Name})");
    }

    public void GemmStridedBatched(bool transA, bool transB, int m, int n, int k, float alpha,
        nint a, CudaDataType aType, int lda, long strideA,
        nint b, CudaDataType bType, int ldb, long strideB, float beta,
        nint c, CudaDataType cType, int ldc, long strideC, int batch)
    {
        Enter();
        int opA = transA ? CuBlas.CUBLAS_OP_T : CuBlas.CUBLAS_OP_N, opB = transB ? CuBlas.CUBLAS_OP_T : CuBlas.CUBLAS_OP_N;
        // One matrix (every linear layer) takes the plain GEMM, whose heuristics see no batch.
        if (batch == 1)
            CuBlas.Check(CuBlas.cublasGemmEx(_cublas, opA, opB, m, n, k, &alpha, (void*)a, (int)aType, lda,
                (void*)b, (int)bType, ldb, &beta, (void*)c, (int)cType, ldc, CuBlas.CUBLAS_COMPUTE_32F, CuBlas.CUBLAS_GEMM_DEFAULT),
                $"cublasGemmEx(m={m}, n={n}, k={k})");
        else
            CuBlas.Check(CuBlas.cublasGemmStridedBatchedEx(_cublas, opA, opB,
                m, n, k, &alpha, (void*)a, (int)aType, lda, strideA, (void*)b, (int)bType, ldb, strideB, &beta,
                (void*)c, (int)cType, ldc, strideC, batch, CuBlas.CUBLAS_COMPUTE_32F, CuBlas.CUBLAS_GEMM_DEFAULT),
                $"cublasGemmStridedBatchedEx(m={m}, n={n}, k={k}, batch={batch})");
    }

    public void Synchronize()
    {
        Enter();
        CudaDriver.Check(CudaDriver.cuCtxSynchronize(), "cuCtxSynchronize");
    }

    public void Dispose()
    {
        if (_disposed) return;
        Enter();
        _disposed = true;
        // Errors of earlier asynchronous work surface here too; teardown continues regardless,
        // so a failing process still returns its context.
        CudaDriver.cuCtxSynchronize();
        CuBlas.cublasDestroy_v2(_cublas);
        foreach (nint module in _modules.Values) CudaDriver.cuModuleUnload(module);
        _modules.Clear();
        _functions.Clear();
        CudaDriver.cuDevicePrimaryCtxRelease_v2(_device);
    }
}
