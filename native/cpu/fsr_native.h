// fsr_native.h: the C ABI of libfsr_native, the CPU kernels of FastSelfReward.
//
// Every op exists twice, `_f32` and `_f64`, instantiated from one C++ template per op
// (native/cpu/<op>.cpp). The f32 build serves training and generation; the f64 build
// serves the gradient tests (central finite differences need double precision).
//
// Conventions (docs/design.md, "What every backend agrees on"):
// - Row-major. Activations are [n, C] with n = total tokens of a packed, ragged batch.
//   Attention tensors are [n, heads, head_dim].
// - A linear layer is y = x W^T with W stored [out, in].
// - Backward ops accumulate (+=) into parameter gradients and overwrite (=) activation
//   gradients. "dw +=" below marks the accumulating outputs.
// - Kernels never allocate; every buffer (scratch included) belongs to the caller.
// - Sizes and indices are 64-bit; token ids, positions and row offsets are int32.
// - Ragged batches are packed: sequence b occupies rows [cu_seqlens[b], cu_seqlens[b+1]).
#ifndef FSR_NATIVE_H
#define FSR_NATIVE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FSR_API __attribute__((visibility("default")))

// ---- library ------------------------------------------------------------------------
// Writes a one-line description (BLAS in use, OpenMP threads, CPU features compiled for)
// into buf (NUL-terminated, truncated to capacity). Returns the full length.
FSR_API int64_t fsr_info(char* buf, int64_t capacity);
FSR_API void fsr_set_num_threads(int32_t threads);
FSR_API int32_t fsr_get_num_threads(void);

// ---- nvtx.cpp -----------------------------------------------------------------------
// Profiler ranges (NVTX3, domain "FastSelfReward"), compiled in when the build found the nvtx3
// headers. fsr_nvtx_enabled returns 1 when they were, else 0 and push/pop do nothing.
// fsr_nvtx_push opens a range named by the NUL-terminated ASCII name on the calling thread;
// fsr_nvtx_pop closes that thread's innermost one. Without an attached tool both are near no-ops.
FSR_API int32_t fsr_nvtx_enabled(void);
FSR_API void fsr_nvtx_push(const char* name);
FSR_API void fsr_nvtx_pop(void);

// ---- gemm.cpp -----------------------------------------------------------------------
// C[M,N] = alpha * op(A) op(B) + beta * C, row-major; op(X) = X or X^T (trans != 0).
// A is [M,K] (or [K,M] when trans_a), B is [K,N] (or [N,K] when trans_b); ld* are row strides.
FSR_API void fsr_gemm_f32(int32_t trans_a, int32_t trans_b, int64_t M, int64_t N, int64_t K,
                          float alpha, const float* A, int64_t lda, const float* B, int64_t ldb,
                          float beta, float* C, int64_t ldc);
FSR_API void fsr_gemm_f64(int32_t trans_a, int32_t trans_b, int64_t M, int64_t N, int64_t K,
                          double alpha, const double* A, int64_t lda, const double* B, int64_t ldb,
                          double beta, double* C, int64_t ldc);

// ---- embedding.cpp ------------------------------------------------------------------
// out[i,:] = table[tokens[i],:]                       table [V,C], out [n,C]
FSR_API void fsr_embedding_forward_f32(float* out, const int32_t* tokens, const float* table, int64_t n, int64_t C);
FSR_API void fsr_embedding_forward_f64(double* out, const int32_t* tokens, const double* table, int64_t n, int64_t C);
// dtable[tokens[i],:] += dout[i,:]                    (dw +=; deterministic: no races)
FSR_API void fsr_embedding_backward_f32(float* dtable, const float* dout, const int32_t* tokens, int64_t n, int64_t C);
FSR_API void fsr_embedding_backward_f64(double* dtable, const double* dout, const int32_t* tokens, int64_t n, int64_t C);

// ---- rmsnorm.cpp --------------------------------------------------------------------
// rstd[i] = 1/sqrt(mean_j x[i,j]^2 + eps); out[i,j] = x[i,j] * rstd[i] * w[j]
FSR_API void fsr_rmsnorm_forward_f32(float* out, float* rstd, const float* x, const float* w, int64_t n, int64_t C, double eps);
FSR_API void fsr_rmsnorm_forward_f64(double* out, double* rstd, const double* x, const double* w, int64_t n, int64_t C, double eps);
// dx = (overwrite), dw += (accumulate)
FSR_API void fsr_rmsnorm_backward_f32(float* dx, float* dw, const float* dout, const float* x, const float* w, const float* rstd, int64_t n, int64_t C);
FSR_API void fsr_rmsnorm_backward_f64(double* dx, double* dw, const double* dout, const double* x, const double* w, const double* rstd, int64_t n, int64_t C);

// ---- rope.cpp -----------------------------------------------------------------------
// In place on x [n, heads, head_dim]. Hugging Face rotate-half pairing: for i < head_dim/2,
// angle = positions[row] * inv_freq[i] (computed in double; inv_freq [head_dim/2] from the host),
// (x_i, x_{i+h/2}) <- (x_i cos - x_{i+h/2} sin, x_{i+h/2} cos + x_i sin).
// Backward applies the inverse rotation to the gradient (also in place).
FSR_API void fsr_rope_forward_f32(float* x, const int32_t* positions, const double* inv_freq, int64_t n, int64_t heads, int64_t head_dim);
FSR_API void fsr_rope_forward_f64(double* x, const int32_t* positions, const double* inv_freq, int64_t n, int64_t heads, int64_t head_dim);
FSR_API void fsr_rope_backward_f32(float* dx, const int32_t* positions, const double* inv_freq, int64_t n, int64_t heads, int64_t head_dim);
FSR_API void fsr_rope_backward_f64(double* dx, const int32_t* positions, const double* inv_freq, int64_t n, int64_t heads, int64_t head_dim);

// ---- attention.cpp ------------------------------------------------------------------
// Causal grouped-query attention over packed ragged sequences.
// q, out [n, H, hd]; k, v [n, KVH, hd]; query head h reads kv head h / (H / KVH).
// Within sequence b, row i attends to rows j of the same sequence with j <= i:
//   s_ij = scale * q_i . k_j;  lse_i = log sum_j exp(s_ij);  out_i = sum_j exp(s_ij - lse_i) v_j
// lse [n, H] is saved for the backward, which recomputes the probabilities from it.
FSR_API void fsr_attention_forward_f32(float* out, float* lse, const float* q, const float* k, const float* v,
                                       const int32_t* cu_seqlens, int64_t batch, int64_t H, int64_t KVH, int64_t hd, double scale);
FSR_API void fsr_attention_forward_f64(double* out, double* lse, const double* q, const double* k, const double* v,
                                       const int32_t* cu_seqlens, int64_t batch, int64_t H, int64_t KVH, int64_t hd, double scale);
// dq, dk, dv all overwritten (=).
FSR_API void fsr_attention_backward_f32(float* dq, float* dk, float* dv, const float* dout, const float* out, const float* lse,
                                        const float* q, const float* k, const float* v,
                                        const int32_t* cu_seqlens, int64_t batch, int64_t H, int64_t KVH, int64_t hd, double scale);
FSR_API void fsr_attention_backward_f64(double* dq, double* dk, double* dv, const double* dout, const double* out, const double* lse,
                                        const double* q, const double* k, const double* v,
                                        const int32_t* cu_seqlens, int64_t batch, int64_t H, int64_t KVH, int64_t hd, double scale);

// ---- kv_cache.cpp -------------------------------------------------------------------
// Paged KV cache of one layer: k_cache, v_cache [num_blocks, block_size, KVH, hd].
// A token's slot is block * block_size + offset. Writes k/v rows [n, KVH, hd] to slots[n].
FSR_API void fsr_kv_cache_write_f32(float* k_cache, float* v_cache, const float* k, const float* v, const int32_t* slots, int64_t n, int64_t KVH, int64_t hd);
FSR_API void fsr_kv_cache_write_f64(double* k_cache, double* v_cache, const double* k, const double* v, const int32_t* slots, int64_t n, int64_t KVH, int64_t hd);

// ---- decode_attention.cpp -----------------------------------------------------------
// One query token per row over that row's cached tokens (the current one included).
// q, out [b, H, hd]; row r's tokens are t = 0..lengths[r]-1, at slot
// block_tables[r * max_blocks + t / block_size] * block_size + t % block_size.
// out_r = softmax_t(scale * q_r . k_t) v_t, per head, grouped-query as in attention.
FSR_API void fsr_decode_attention_f32(float* out, const float* q, const float* k_cache, const float* v_cache,
                                      const int32_t* block_tables, int64_t max_blocks, const int32_t* lengths,
                                      int64_t b, int64_t H, int64_t KVH, int64_t hd, int64_t block_size, double scale);
FSR_API void fsr_decode_attention_f64(double* out, const double* q, const double* k_cache, const double* v_cache,
                                      const int32_t* block_tables, int64_t max_blocks, const int32_t* lengths,
                                      int64_t b, int64_t H, int64_t KVH, int64_t hd, int64_t block_size, double scale);

// ---- swiglu.cpp ---------------------------------------------------------------------
// out = silu(gate) * up, elementwise over count values; silu(g) = g / (1 + exp(-g)).
FSR_API void fsr_swiglu_forward_f32(float* out, const float* gate, const float* up, int64_t count);
FSR_API void fsr_swiglu_forward_f64(double* out, const double* gate, const double* up, int64_t count);
// dgate =, dup = (overwrite)
FSR_API void fsr_swiglu_backward_f32(float* dgate, float* dup, const float* dout, const float* gate, const float* up, int64_t count);
FSR_API void fsr_swiglu_backward_f64(double* dgate, double* dup, const double* dout, const double* gate, const double* up, int64_t count);

// ---- residual.cpp -------------------------------------------------------------------
// forward: out = a + b (out may alias a or b). backward of the residual branch: dst += src.
FSR_API void fsr_residual_forward_f32(float* out, const float* a, const float* b, int64_t count);
FSR_API void fsr_residual_forward_f64(double* out, const double* a, const double* b, int64_t count);
FSR_API void fsr_residual_backward_f32(float* dst, const float* src, int64_t count);
FSR_API void fsr_residual_backward_f64(double* dst, const double* src, int64_t count);

// ---- token_logprobs.cpp -------------------------------------------------------------
// Fused log-softmax + gather + gradient over one chunk of rows. logits [n, V].
//   logp[i] = log softmax(logits[i,:])[targets[i]]         (0 where targets[i] < 0)
// When grad_weights != NULL, logits is overwritten in place with d loss / d logits for
//   loss = sum_i grad_weights[i] * logp[i]:  dlogits[i,j] = grad_weights[i] * (1[j == t_i] - p_ij)
// (rows with targets[i] < 0 get zero gradient). Cross-entropy over a loss mask is
// grad_weights[i] = -mask[i] / (loss tokens of the optimizer step).
FSR_API void fsr_token_logprobs_f32(float* logits, float* logp, const int32_t* targets, const float* grad_weights, int64_t n, int64_t V);
FSR_API void fsr_token_logprobs_f64(double* logits, double* logp, const int32_t* targets, const double* grad_weights, int64_t n, int64_t V);

// ---- dpo_loss.cpp -------------------------------------------------------------------
// Per pair i, with h = (pc - rc) - (pr - rr) (policy/reference log-prob sums of the chosen
// and rejected answers), x = beta * h, e = label_smoothing:
//   kind 0 sigmoid: loss = -(1-e) log sigmoid(x) - e log sigmoid(-x)
//   kind 1 ipo:     loss = (h - 1/(2 beta))^2
//   kind 2 robust:  loss = (-(1-e) log sigmoid(x) + e log sigmoid(-x)) / (1 - 2e)
// grad_pc, grad_pr = d loss_i / d pc_i, d pr_i of the policy's sums (not divided by the pair
// count); the frozen reference gets none.
FSR_API void fsr_dpo_loss_f32(float* loss, float* grad_pc, float* grad_pr,
                              const float* pc, const float* pr, const float* rc, const float* rr,
                              int64_t pairs, double beta, double label_smoothing, int32_t kind);
FSR_API void fsr_dpo_loss_f64(double* loss, double* grad_pc, double* grad_pr,
                              const double* pc, const double* pr, const double* rc, const double* rr,
                              int64_t pairs, double beta, double label_smoothing, int32_t kind);

// ---- adamw.cpp ----------------------------------------------------------------------
// Decoupled AdamW, step >= 1, g = grad * grad_scale (grad_scale carries clipping):
//   m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2
//   p -= lr * ( (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps) + weight_decay * p )
FSR_API void fsr_adamw_f32(float* param, const float* grad, float* m, float* v, int64_t count,
                           double lr, double beta1, double beta2, double eps, double weight_decay,
                           double grad_scale, int64_t step);
FSR_API void fsr_adamw_f64(double* param, const double* grad, double* m, double* v, int64_t count,
                           double lr, double beta1, double beta2, double eps, double weight_decay,
                           double grad_scale, int64_t step);

// ---- grad_norm.cpp ------------------------------------------------------------------
// Returns sum_i x_i^2, accumulated in double (the global norm is sqrt of the sum over
// every gradient range; AdamW applies the clip as a gradient scale).
FSR_API double fsr_sum_squares_f32(const float* x, int64_t count);
FSR_API double fsr_sum_squares_f64(const double* x, int64_t count);

// ---- sample_top_p.cpp ---------------------------------------------------------------
// Per row r of logits [b, V], one uniform u = uniforms[r] in [0, 1):
// - temperature == 0: tokens[r] = argmax, ties to the lowest id.
// - else p = softmax(logits / temperature) (written to probs [b, V], caller's scratch);
//   tau = the largest value such that sum_{p_j >= tau} p_j >= top_p (found without sorting,
//   by bisection over the float bit patterns of p, which are ordered like the values);
//   kept = {j : p_j >= tau}, mass = sum_kept p_j (accumulated in double, in id order);
//   tokens[r] = the first kept j, in id order, whose running kept sum reaches u * mass
//   (the last kept id if rounding leaves none).
FSR_API void fsr_sample_top_p_f32(int32_t* tokens, float* probs, const float* logits, const float* uniforms,
                                  int64_t b, int64_t V, double temperature, double top_p);
FSR_API void fsr_sample_top_p_f64(int32_t* tokens, double* probs, const double* logits, const double* uniforms,
                                  int64_t b, int64_t V, double temperature, double top_p);

#ifdef __cplusplus
}
#endif

#endif
