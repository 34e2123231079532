using System.Runtime.InteropServices;

namespace FastSelfReward.Interop;

/// <summary>
/// The C ABI of libfsr_native (native/cpu/fsr_native.h), one declaration per export, with the
/// native names and types: pointers as <c>float*</c>/<c>double*</c>/<c>int*</c>, int64_t as
/// <see cref="long"/>, int32_t as <see cref="int"/>. Nothing here checks arguments; callers
/// (<see cref="Compute.CpuKernels"/>) validate every size and index first.
/// </summary>
internal static unsafe partial class FsrNative
{
    /// <summary>Logical library name, resolved by <see cref="NativeLibraryResolver"/>.</summary>
    public const string Library = "fsr_native";

    static FsrNative()
    {
        NativeLibraryResolver.Register();
        // libgomp reads its wait policy once, when libfsr_native pulls it in, so it is set before
        // the first call. By default an idle OpenMP thread spins ~300k iterations before sleeping;
        // on a shared machine those spins take the cores from the thread the team is waiting for.
        // Measured with `fsr bench --short` on the loaded 2-core VM: 2-7x the training and
        // generation throughput with 10k spins (sleeping at once, OMP_WAIT_POLICY=passive, was as good
        // under load but pays a wake-up per parallel region when idle); OMP_WAIT_POLICY or GOMP_SPINCOUNT, when
        // set, win.
        if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null && Environment.GetEnvironmentVariable("GOMP_SPINCOUNT") is null)
            LibC.SetDefault("GOMP_SPINCOUNT", "10000");
    }

    // ---- library
    [LibraryImport(Library)] public static partial long fsr_info(byte* buf, long capacity);
    [LibraryImport(Library)] public static partial void fsr_set_num_threads(int threads);
    [LibraryImport(Library)] public static partial int fsr_get_num_threads();

    // ---- nvtx.cpp
    [LibraryImport(Library)] public static partial int fsr_nvtx_enabled();
    [LibraryImport(Library)] public static partial void fsr_nvtx_push(byte* name);
    [LibraryImport(Library)] public static partial void fsr_nvtx_pop();

    // ---- gemm.cpp
    [LibraryImport(Library)]
    public static partial void fsr_gemm_f32(int trans_a, int trans_b, long M, long N, long K,
        float alpha, float* A, long lda, float* B, long ldb, float beta, float* C, long ldc);
    [LibraryImport(Library)]
    public static partial void fsr_gemm_f64(int trans_a, int trans_b, long M, long N, long K,
        double alpha, double* A, long lda, double* B, long ldb, double beta, double* C, long ldc);

    // ---- embedding.cpp
    [LibraryImport(Library)] public static partial void fsr_embedding_forward_f32(float* @out, int* tokens, float* table, long n, long C);
    [LibraryImport(Library)] public static partial void fsr_embedding_forward_f64(double* @out, int* tokens, double* table, long n, long C);
    [LibraryImport(Library)] public static partial void fsr_embedding_backward_f32(float* dtable, float* dout, int* tokens, long n, long C);
    [LibraryImport(Library)] public static partial void fsr_embedding_backward_f64(double* dtable, double* dout, int* tokens, long n, long C);

    // ---- rmsnorm.cpp
    [LibraryImport(Library)] public static partial void fsr_rmsnorm_forward_f32(float* @out, float* rstd, float* x, float* w, long n, long C, double eps);
    [LibraryImport(Library)] public static partial void fsr_rmsnorm_forward_f64(double* @out, double* rstd, double* x, double* w, long n, long C, double eps);
    [LibraryImport(Library)] public static partial void fsr_rmsnorm_backward_f32(float* dx, float* dw, float* dout, float* x, float* w, float* rstd, long n, long C);
    [LibraryImport(Library)] public static partial void fsr_rmsnorm_backward_f64(double* dx, double* dw, double* dout, double* x, double* w, double* rstd, long n, long C);

    // ---- rope.cpp
    [LibraryImport(Library)] public static partial void fsr_rope_forward_f32(float* x, int* positions, double* inv_freq, long n, long heads, long head_dim);
    [LibraryImport(Library)] public static partial void fsr_rope_forward_f64(double* x, int* positions, double* inv_freq, long n, long heads, long head_dim);
    [LibraryImport(Library)] public static partial void fsr_rope_backward_f32(float* dx, int* positions, double* inv_freq, long n, long heads, long head_dim);
    [LibraryImport(Library)] public static partial void fsr_rope_backward_f64(double* dx, int* positions, double* inv_freq, long n, long heads, long head_dim);

    // ---- attention.cpp
    [LibraryImport(Library)]
    public static partial void fsr_attention_forward_f32(float* @out, float* lse, float* q, float* k, float* v,
        int* cu_seqlens, long batch, long H, long KVH, long hd, double scale);
    [LibraryImport(Library)]
    public static partial void fsr_attention_forward_f64(double* @out, double* lse, double* q, double* k, double* v,
        int* cu_seqlens, long batch, long H, long KVH, long hd, double scale);
    [LibraryImport(Library)]
    public static partial void fsr_attention_backward_f32(float* dq, float* dk, float* dv, float* dout, float* @out, float* lse,
        float* q, float* k, float* v, int* cu_seqlens, long batch, long H, long KVH, long hd, double scale);
    [LibraryImport(Library)]
    public static partial void fsr_attention_backward_f64(double* dq, double* dk, double* dv, double* dout, double* @out, double* lse,
        double* q, double* k, double* v, int* cu_seqlens, long batch, long H, long KVH, long hd, double scale);

    // ---- kv_cache.cpp
    [LibraryImport(Library)]
    public static partial void fsr_kv_cache_write_f32(float* k_cache, float* v_cache, float* k, float* v, int* slots, long n, long KVH, long hd);
    [LibraryImport(Library)]
    public static partial void fsr_kv_cache_write_f64(double* k_cache, double* v_cache, double* k, double* v, int* slots, long n, long KVH, long hd);

    // ---- decode_attention.cpp
    [LibraryImport(Library)]
    public static partial void fsr_decode_attention_f32(float* @out, float* q, float* k_cache, float* v_cache,
        int* block_tables, long max_blocks, int* lengths, long b, long H, long KVH, long hd, long block_size, double scale);
    [LibraryImport(Library)]
    public static partial void fsr_decode_attention_f64(double* @out, double* q, double* k_cache, double* v_cache,
        int* block_tables, long max_blocks, int* lengths, long b, long H, long KVH, long hd, long block_size, double scale);

    // ---- swiglu.cpp
    [LibraryImport(Library)] public static partial void fsr_swiglu_forward_f32(float* @out, float* gate, float* up, long count);
    [LibraryImport(Library)] public static partial void fsr_swiglu_forward_f64(double* @out, double* gate, double* up, long count);
    [LibraryImport(Library)] public static partial void fsr_swiglu_backward_f32(float* dgate, float* dup, float* dout, float* gate, float* up, long count);
    [LibraryImport(Library)] public static partial void fsr_swiglu_backward_f64(double* dgate, double* dup, double* dout, double* gate, double* up, long count);

    // ---- residual.cpp
    [LibraryImport(Library)] public static partial void fsr_residual_forward_f32(float* @out, float* a, float* b, long count);
    [LibraryImport(Library)] public static partial void fsr_residual_forward_f64(double* @out, double* a, double* b, long count);
    [LibraryImport(Library)] public static partial void fsr_residual_backward_f32(float* dst, float* src, long count);
    [LibraryImport(Library)] public static partial void fsr_residual_backward_f64(double* dst, double* src, long count);

    // ---- token_logprobs.cpp
    [LibraryImport(Library)] public static partial void fsr_token_logprobs_f32(float* logits, float* logp, int* targets, float* grad_weights, long n, long V);
    [LibraryImport(Library)] public static partial void fsr_token_logprobs_f64(double* logits, double* logp, int* targets, double* grad_weights, long n, long V);

    // ---- dpo_loss.cpp
    [LibraryImport(Library)]
    public static partial void fsr_dpo_loss_f32(float* loss, float* grad_pc, float* grad_pr,
        float* pc, float* pr, float* rc, float* rr, long pairs, double beta, double label_smoothing, int kind);
    [LibraryImport(Library)]
    public static partial void fsr_dpo_loss_f64(double* loss, double* grad_pc, double* grad_pr,
        double* pc, double* pr, double* rc, double* rr, long pairs, double beta, double label_smoothing, int kind);

    // ---- adamw.cpp
    [LibraryImport(Library)]
    public static partial void fsr_adamw_f32(float* param, float* grad, float* m, float* v, long count,
        double lr, double beta1, double beta2, double eps, double weight_decay, double grad_scale, long step);
    [LibraryImport(Library)]
    public static partial void fsr_adamw_f64(double* param, double* grad, double* m, double* v, long count,
        double lr, double beta1, double beta2, double eps, double weight_decay, double grad_scale, long step);

    // ---- grad_norm.cpp
    [LibraryImport(Library)] public static partial double fsr_sum_squares_f32(float* x, long count);
    [LibraryImport(Library)] public static partial double fsr_sum_squares_f64(double* x, long count);

    // ---- sample_top_p.cpp
    [LibraryImport(Library)]
    public static partial void fsr_sample_top_p_f32(int* tokens, float* probs, float* logits, float* uniforms,
        long b, long V, double temperature, double top_p);
    [LibraryImport(Library)]
    public static partial void fsr_sample_top_p_f64(int* tokens, double* probs, double* logits, double* uniforms,
        long b, long V, double temperature, double top_p);
}
