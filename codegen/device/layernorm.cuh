// layernorm.cuh - layer norm forward and backward (biased variance).
//
// Forward: one warp per row, two passes over the row (mean, then the variance
// of x - mean: accurate for rows far from zero, like the CPU reference), then
// y = (x - mean) * rstd * gamma + beta. mean and rstd are saved (f32) for the
// backward.
//
// Backward, in one launch of two kinds of CTAs:
//  - CTAs [0, Cfg::row_blocks): dx, one warp per row:
//      xhat = (x - mean) rstd, g = dy gamma,
//      dx (+)= rstd (g - mean(g) - xhat mean(g xhat)).
//  - the other CTAs: dgamma = sum_m dy xhat and dbeta = sum_m dy, one CTA
//    per tile of Cfg::cols columns and chunk of Cfg::rows_per_chunk rows,
//    Cfg::row_groups threads per column striding over the chunk, reduced
//    in shared memory in a fixed order; with several chunks, the last CTA
//    of a column tile (a ticket, as in bias_grad.cuh) adds the chunks'
//    sums from a module-global scratch in chunk order. Deterministic, no
//    atomics on data, dgamma and dbeta overwritten.

#ifndef STC_DEVICE_LAYERNORM_CUH
#define STC_DEVICE_LAYERNORM_CUH

namespace stc {

// The row of this warp: one warp per row, Cfg::threads / 32 rows per CTA.
template <class Cfg> __device__ __forceinline__ long long warp_row() {
  return static_cast<long long>(blockIdx.x) * (Cfg::threads / 32) +
         (threadIdx.x >> 5);
}

// x (M,C), gamma (C), beta (C) -> y (M,C), mean (M), rstd (M)
template <class Cfg, typename TX, typename TG, typename TB, typename TY>
__device__ __forceinline__ void
layer_norm_fwd_kernel(const TX *__restrict__ x, const TG *__restrict__ gamma,
                      const TB *__restrict__ beta, TY *__restrict__ y,
                      float *__restrict__ mean, float *__restrict__ rstd) {
  constexpr int C = Cfg::C;
  const int lane = threadIdx.x & 31;
  const long long row = warp_row<Cfg>();
  if (row >= Cfg::M)
    return; // warp-uniform
  const long long base = row * C;
  float s = 0.f;
  for (int c = lane; c < C; c += 32)
    s += load(x, base + c);
  const float mu = warp_sum(s) / C;
  float v = 0.f;
  for (int c = lane; c < C; c += 32) {
    const float d = load(x, base + c) - mu;
    v += d * d;
  }
  const float var = warp_sum(v) / C;
  // 1 / sqrtf rather than rsqrtf: rsqrtf is off by up to 2 ulp.
  const float rs = 1.f / sqrtf(var + Cfg::eps);
  for (int c = lane; c < C; c += 32)
    store(y, base + c,
          (load(x, base + c) - mu) * rs * load(gamma, c) + load(beta, c));
  if (lane == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
}

// x, residual (M,C) -> sum (M,C) = residual + dropout(x) (dropout.cuh's
// mask, element m C + c), then layer_norm_fwd of sum as stored: y (M,C),
// mean (M), rstd (M). One warp per row; the row's sums stay in registers
// (C <= 1024) or are read back (larger C).
template <class Cfg, typename TX, typename TR, typename TS, typename TG,
          typename TB, typename TY>
__device__ __forceinline__ void dropout_layer_norm_fwd_kernel(
    const TX *__restrict__ x, const TR *__restrict__ residual,
    TS *__restrict__ sum, const TG *__restrict__ gamma,
    const TB *__restrict__ beta, TY *__restrict__ y, float *__restrict__ mean,
    float *__restrict__ rstd, const void *scalars) {
  constexpr int C = Cfg::C;
  constexpr int per_lane = (C + 31) / 32;
  constexpr bool held = per_lane <= 32;
  const int lane = threadIdx.x & 31;
  const long long row = warp_row<Cfg>();
  if (row >= Cfg::M)
    return; // warp-uniform
  const unsigned seed = stc::abi::dropoutBase(scalar_seed(scalars), Cfg::salt);
  const long long base = row * C;
  float v[held ? per_lane : 1];
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < per_lane; ++i) {
    const int c = lane + 32 * i;
    if (c >= C)
      break;
    const long long e = base + c;
    const bool keep = stc::abi::dropoutKeep(
        seed, static_cast<unsigned long long>(e), Cfg::threshold);
    const float t = store_get(
        sum, e, load(residual, e) + (keep ? load(x, e) * Cfg::scale : 0.f));
    if constexpr (held)
      v[i] = t;
    s += t;
  }
  const float mu = warp_sum(s) / C;
  float var = 0.f;
#pragma unroll
  for (int i = 0; i < per_lane; ++i) {
    const int c = lane + 32 * i;
    if (c >= C)
      break;
    const float d = (held ? v[i] : load(sum, base + c)) - mu;
    var += d * d;
  }
  // 1 / sqrtf rather than rsqrtf, as layer_norm_fwd_kernel.
  const float rs = 1.f / sqrtf(warp_sum(var) / C + Cfg::eps);
#pragma unroll
  for (int i = 0; i < per_lane; ++i) {
    const int c = lane + 32 * i;
    if (c >= C)
      break;
    const float t = held ? v[i] : load(sum, base + c);
    store(y, base + c, (t - mu) * rs * load(gamma, c) + load(beta, c));
  }
  if (lane == 0) {
    mean[row] = mu;
    rstd[row] = rs;
  }
}

// dy (M,C), x (M,C), mean (M), rstd (M), gamma (C)
//   -> dx (M,C) (+)=, dgamma (C) =, dbeta (C) =; with Cfg::dropout also
//   dbranch (M,C) = dropout_bwd(dx as stored)
template <class Cfg, typename TDY, typename TX, typename TG, typename TDX,
          typename TDG, typename TDB>
__device__ __forceinline__ void
layer_norm_bwd_kernel(const TDY *__restrict__ dy, const TX *__restrict__ x,
                      const float *__restrict__ mean,
                      const float *__restrict__ rstd,
                      const TG *__restrict__ gamma, TDX *__restrict__ dx,
                      TDG *__restrict__ dgamma, TDB *__restrict__ dbeta,
                      TDX *__restrict__ dbranch, const void *scalars,
                      float *partials, unsigned *tickets) {
  constexpr int C = Cfg::C;
  if (blockIdx.x < Cfg::row_blocks) {
    unsigned seed = 0;
    if constexpr (Cfg::dropout)
      seed = stc::abi::dropoutBase(scalar_seed(scalars), Cfg::salt);
    const int lane = threadIdx.x & 31;
    const long long row = warp_row<Cfg>();
    if (row >= Cfg::M)
      return;
    const long long base = row * C;
    const float mu = mean[row], rs = rstd[row];
    // Accumulating: the lane's old dx values are loaded first, all at once,
    // so their latency hides behind the statistics. Loaded one by one in the
    // write loop (each a DRAM miss the store then waits behind) the kernel
    // ran 6x slower (bench/train/LOG.md).
    constexpr int per_lane = (C + 31) / 32;
    constexpr bool prefetch = Cfg::accumulate && per_lane <= 32;
    float old[prefetch ? per_lane : 1];
    if constexpr (prefetch) {
#pragma unroll
      for (int i = 0; i < per_lane; ++i) {
        const int c = lane + 32 * i;
        old[i] = c < C ? load(dx, base + c) : 0.f;
      }
    }
    float sg = 0.f, sgx = 0.f;
    for (int c = lane; c < C; c += 32) {
      const float g = load(dy, base + c) * load(gamma, c);
      sg += g;
      sgx += g * (load(x, base + c) - mu) * rs;
    }
    const float meanG = warp_sum(sg) / C;
    const float meanGX = warp_sum(sgx) / C;
#pragma unroll
    for (int i = 0; i < per_lane; ++i) {
      const int c = lane + 32 * i;
      if (c >= C)
        break;
      const float xhat = (load(x, base + c) - mu) * rs;
      const float g = load(dy, base + c) * load(gamma, c);
      const float d = rs * (g - meanG - xhat * meanGX);
      float prior = 0.f;
      if constexpr (prefetch)
        prior = old[i];
      else if constexpr (Cfg::accumulate)
        prior = load(dx, base + c);
      const float t = store_get(dx, base + c, Cfg::accumulate ? prior + d : d);
      if constexpr (Cfg::dropout) {
        const bool keep = stc::abi::dropoutKeep(
            seed, static_cast<unsigned long long>(base + c), Cfg::threshold);
        store(dbranch, base + c, keep ? t * Cfg::scale : 0.f);
      }
    }
    return;
  }
  // Column part: threadIdx.x = group * cols + col; CTA (tile, chunk).
  constexpr int COLS = Cfg::cols, GROUPS = Cfg::row_groups;
  __shared__ float red_g[GROUPS][COLS];
  __shared__ float red_b[GROUPS][COLS];
  __shared__ bool last;
  const int col = threadIdx.x % COLS, group = threadIdx.x / COLS;
  const unsigned k = blockIdx.x - Cfg::row_blocks;
  const unsigned tile = k % Cfg::col_tiles, chunk = k / Cfg::col_tiles;
  const long long c = static_cast<long long>(tile) * COLS + col;
  const long long m0 = static_cast<long long>(chunk) * Cfg::rows_per_chunk;
  const long long m1 =
      m0 + Cfg::rows_per_chunk < Cfg::M ? m0 + Cfg::rows_per_chunk : Cfg::M;
  float sg = 0.f, sb = 0.f;
  if (c < C) {
#pragma unroll 4
    for (long long m = m0 + group; m < m1; m += GROUPS) {
      const float d = load(dy, m * C + c);
      sg += d * (load(x, m * C + c) - mean[m]) * rstd[m];
      sb += d;
    }
  }
  red_g[group][col] = sg;
  red_b[group][col] = sb;
  __syncthreads();
  if (group == 0 && c < C) {
    float tg = 0.f, tb = 0.f;
    for (int g = 0; g < GROUPS; ++g) {
      tg += red_g[g][col];
      tb += red_b[g][col];
    }
    if (Cfg::chunks == 1) {
      store(dgamma, c, tg);
      store(dbeta, c, tb);
    } else {
      partials[(2 * chunk) * C + c] = tg;
      partials[(2 * chunk + 1) * C + c] = tb;
      __threadfence(); // publish the partials before the ticket
    }
  }
  if (Cfg::chunks == 1)
    return;
  __syncthreads();
  if (threadIdx.x == 0)
    last = atomicAdd(tickets + tile, 1u) == Cfg::chunks - 1;
  __syncthreads();
  if (!last)
    return;
  __threadfence();
  if (group == 0 && c < C) {
    float tg = 0.f, tb = 0.f;
    for (int j = 0; j < Cfg::chunks; ++j) {
      tg += __ldcg(partials + (2 * j) * C + c); // L2: skip a stale L1
      tb += __ldcg(partials + (2 * j + 1) * C + c);
    }
    store(dgamma, c, tg);
    store(dbeta, c, tb);
  }
  if (threadIdx.x == 0)
    tickets[tile] = 0u; // ready for the next launch
}

} // namespace stc

#endif // STC_DEVICE_LAYERNORM_CUH
