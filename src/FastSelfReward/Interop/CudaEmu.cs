using System.Runtime.InteropServices;

namespace FastSelfReward.Interop;

/// <summary>
/// The C ABI of libfsr_cuda_emu (native/cuda_emu/fsr_cuda_emu.h), the emulated GPU that runs
/// kernels/*.cu on the CPU. Same names and types as the header; every fallible call returns 0,
/// or 1 with a NUL-terminated message in <c>error</c>. Strings are passed as UTF-8 byte pointers
/// so that no marshalling is needed.
/// </summary>
internal static unsafe partial class CudaEmu
{
    /// <summary>Logical library name, resolved by <see cref="NativeLibraryResolver"/>.</summary>
    public const string Library = "fsr_cuda_emu";

    static CudaEmu() => NativeLibraryResolver.Register();

    [LibraryImport(Library)] public static partial nint fsr_emu_create_context(int reverse_order, int deferred, int workers);
    [LibraryImport(Library)] public static partial void fsr_emu_destroy_context(nint context);

    [LibraryImport(Library)] public static partial int fsr_emu_malloc(long bytes, nint* address, byte* error, long capacity);
    [LibraryImport(Library)] public static partial int fsr_emu_free(nint context, nint address, byte* error, long capacity);
    [LibraryImport(Library)]
    public static partial int fsr_emu_memcpy_htod(nint context, nint destination, void* source, long bytes, byte* error, long capacity);
    [LibraryImport(Library)]
    public static partial int fsr_emu_memcpy_dtoh(nint context, void* destination, nint source, long bytes, byte* error, long capacity);
    [LibraryImport(Library)]
    public static partial int fsr_emu_memcpy_dtod(nint context, nint destination, nint source, long bytes, byte* error, long capacity);
    [LibraryImport(Library)]
    public static partial int fsr_emu_memset(nint context, nint destination, int value, long bytes, byte* error, long capacity);

    [LibraryImport(Library)] public static partial nint fsr_emu_find_kernel(byte* name);
    [LibraryImport(Library)] public static partial byte* fsr_emu_kernel_file(nint kernel);
    [LibraryImport(Library)]
    public static partial int fsr_emu_set_register_count(nint context, nint kernel, int registers, byte* error, long capacity);
    [LibraryImport(Library)]
    public static partial int fsr_emu_set_max_dynamic_shared(nint context, nint kernel, int bytes, byte* error, long capacity);

    [LibraryImport(Library)]
    public static partial int fsr_emu_launch(nint context, nint kernel, uint grid_x, uint grid_y, uint grid_z,
        uint block_x, uint block_y, uint block_z, uint shared_bytes, void** @params, byte* error, long capacity);
    [LibraryImport(Library)] public static partial int fsr_emu_synchronize(nint context, byte* error, long capacity);

    [LibraryImport(Library)]
    public static partial int fsr_emu_gemm_strided_batched(nint context, int trans_a, int trans_b, int m, int n, int k,
        float alpha, nint a, int a_type, int lda, long stride_a, nint b, int b_type, int ldb, long stride_b, float beta,
        nint c, int c_type, int ldc, long stride_c, int batch, byte* error, long capacity);
}
