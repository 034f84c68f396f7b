// attention_mma.cuh - tensor-core pieces of the 16-bit attention kernels.
//
// The tensor-core attention kernels (attention_fwd_mma.cuh,
// attention_bwd_mma.cuh) run mma.sync m16n8k16 (16-bit floats in, fp32
// accumulate) on tiles staged in shared memory by cp.async and read back with
// ldmatrix. The 16-bit type `h16` is bf16, or f16 where the emitter defines
// STC_MMA_F16; the text below says bf16 for either. Conventions:
//
// - Tiles are row-major [rows][D] bf16 in shared memory, every 16-byte unit
//   swizzled within its 128-byte line (unit ^= line % 8, line = byte / 128),
//   so the 8 row addresses of an ldmatrix hit 8 different bank groups for
//   any D in {32, 64, 128}. Tile bases are 1024-byte aligned.
// - A warp owns 16 rows of an m16 tile. In an m16n8 accumulator fragment c[4]
//   lane (g = lane / 4, t = lane % 4) holds rows g (c[0], c[1]) and g + 8
//   (c[2], c[3]), columns 2t and 2t + 1. The same registers, rounded to bf16
//   in pairs, are an A fragment of the next product (the P V trick of
//   FlashAttention-2): no trip through shared memory.
// - Tensors are (B, T, H, D) bf16 in global memory; rows past T are loaded
//   as zeros and never stored.
// Needs attention_common.cuh (chunk_has_pair) before it.

#ifndef STC_DEVICE_ATTENTION_MMA_CUH
#define STC_DEVICE_ATTENTION_MMA_CUH

namespace stc {
namespace mma {

#ifdef STC_MMA_F16
typedef __half h16;
#define STC_MMA_TYPE "f16"
#else
typedef __nv_bfloat16 h16;
#define STC_MMA_TYPE "bf16"
#endif
typedef Pair<h16>::type h16x2;

// The two 16-bit values at p (4-byte aligned), widened.
__device__ __forceinline__ float2 load_pair(const void *p) {
  return widen2(*reinterpret_cast<const h16x2 *>(p));
}

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// q.k (an S accumulator) scaled, modified (has_score_mod) and in the log2
// domain; *ds gets the modification's derivative (1 without).
template <class Cfg>
__device__ __forceinline__ float scaled_score(float qk, int q, int k, int h,
                                              float *ds) {
  if constexpr (has_score_mod<Cfg>())
    return score_mod<Cfg, true>(qk * Cfg::scale, q, k, h, ds) * kLog2e;
  else
    return qk * (Cfg::scale * kLog2e);
}

// 2^x by the MUFU alone: subnormal results flush to zero (exp2f adds a
// range fix-up around the same instruction). Softmax terms below 2^-126
// of the row maximum are zero in bf16 and in the sums alike.
__device__ __forceinline__ float exp2_ftz(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ unsigned smem_addr(const void *p) {
  return static_cast<unsigned>(__cvta_generic_to_shared(p));
}

// Byte offset within a tile -> swizzled byte offset (16-byte units permuted
// within each 128-byte line).
__device__ __forceinline__ unsigned swz(unsigned byte) {
  return byte ^ (((byte >> 7) & 7u) << 4);
}

// 16 bytes global -> shared, asynchronously; zero-filled when !valid (src
// must still be a valid address).
__device__ __forceinline__ void cp_async16(unsigned dst, const void *src,
                                           bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst),
               "l"(src), "r"(valid ? 16 : 0)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::: "memory");
}
template <int N> __device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldsm_x4(unsigned (&r)[4], unsigned addr) {
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
      : "r"(addr));
}
__device__ __forceinline__ void ldsm_x4_trans(unsigned (&r)[4], unsigned addr) {
  asm volatile(
      "ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
      : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
      : "r"(addr));
}

// c += a b: a 16x16 (row), b 16x8 (col), bf16 -> fp32.
__device__ __forceinline__ void mma16816(float (&c)[4], const unsigned (&a)[4],
                                         unsigned b0, unsigned b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32." STC_MMA_TYPE "." STC_MMA_TYPE
               ".f32 "
               "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
               "{%0, %1, %2, %3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0),
                 "r"(b1));
}

// Two floats -> one register of two bf16 (lo in the low half), rounded to
// nearest even.
__device__ __forceinline__ unsigned pack_h16(float lo, float hi) {
  h16x2 v;
  narrow2(lo, hi, &v);
  return *reinterpret_cast<unsigned *>(&v);
}

// wgmma (sm_90a only: STC_WGMMA is 1 where NVRTC compiles for sm_90a, see
// abi::nvrtcArchName). A warpgroup (4 warps, 128 threads) computes a 64 x 64
// product; warp w holds rows 16 w .. 16 w + 15 of the accumulator in the
// layout of eight m16n8 fragments (d[j] is columns 8 j .. 8 j + 7), and an A
// operand in registers has the layout of an m16n8k16 A fragment: the
// FlashAttention-2 register conventions above carry over unchanged.
//
// Operands in shared memory are described by a 64-bit descriptor. Our
// swizzled tiles with D = 64 (128-byte rows, 16-byte units XORed with the row
// mod 8, bases 1024-byte aligned) are exactly the hardware's 128-byte swizzle
// atoms of 8 rows x 128 bytes, so one descriptor shape serves both majors:
// - K-major (Q or K in Q K^T: rows of the tile are M or N, columns are K):
//   8-row groups 1024 bytes apart (stride byte offset); the k16 chunk kk
//   starts 32 kk bytes into the rows (the swizzle applies to the address).
// - MN-major (V in P V: rows are K, columns are N): 8-row (k) groups 1024
//   bytes apart; chunk kk starts at row 16 kk (2048 kk bytes). The leading
//   byte offset (between 64-column atoms) is unused at N = 64.
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define STC_WGMMA 1
#else
#define STC_WGMMA 0
#endif

namespace wg {

__device__ __forceinline__ unsigned long long desc_sw128(unsigned addr) {
  return static_cast<unsigned long long>((addr & 0x3FFFFu) >> 4) |
         (1ull << 16) |  // leading byte offset: unused (1)
         (64ull << 32) | // stride byte offset: 1024 >> 4
         (1ull << 62);   // 128-byte swizzle
}

#if STC_WGMMA
__device__ __forceinline__ void fence() {
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
}
__device__ __forceinline__ void commit() {
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
}
template <int N> __device__ __forceinline__ void wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// Writes to shared memory by this thread (cp.async included) become visible
// to the wgmma that a later barrier orders after them.
__device__ __forceinline__ void fence_smem() {
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
}

// Pins an accumulator after wait(): the compiler sees every register
// written here, so it cannot move a read of one above the wait.
__device__ __forceinline__ void hold(float (&d)[8][4]) {
#pragma unroll
  for (int j = 0; j < 8; ++j)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      asm volatile("" : "+f"(d[j][e])::"memory");
}

// dst[0 .. bytes / 4) += src[...] in global memory, fp32, by the bulk copy
// engine (one instruction per contiguous row; 16-byte aligned, bytes a
// multiple of 16), in this thread's bulk group.
__device__ __forceinline__ void bulk_reduce_add_f32(float *dst, unsigned src,
                                                    unsigned bytes) {
  asm volatile("cp.reduce.async.bulk.global.shared::cta.bulk_group.add.f32 "
               "[%0], [%1], %2;\n" ::"l"(dst),
               "r"(src), "r"(bytes)
               : "memory");
}
__device__ __forceinline__ void bulk_commit() {
  asm volatile("cp.async.bulk.commit_group;\n" ::: "memory");
}
// This thread's bulk operations have read their shared memory (read) or
// are complete.
__device__ __forceinline__ void bulk_wait_read() {
  asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory");
}
__device__ __forceinline__ void bulk_wait() {
  asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory");
}

// The 32 accumulator operands of a 64 x 64 fp32 product.
#define STC_WG_ACC(d)                                                          \
  "+f"(d[0][0]), "+f"(d[0][1]), "+f"(d[0][2]), "+f"(d[0][3]), "+f"(d[1][0]),   \
      "+f"(d[1][1]), "+f"(d[1][2]), "+f"(d[1][3]), "+f"(d[2][0]),              \
      "+f"(d[2][1]), "+f"(d[2][2]), "+f"(d[2][3]), "+f"(d[3][0]),              \
      "+f"(d[3][1]), "+f"(d[3][2]), "+f"(d[3][3]), "+f"(d[4][0]),              \
      "+f"(d[4][1]), "+f"(d[4][2]), "+f"(d[4][3]), "+f"(d[5][0]),              \
      "+f"(d[5][1]), "+f"(d[5][2]), "+f"(d[5][3]), "+f"(d[6][0]),              \
      "+f"(d[6][1]), "+f"(d[6][2]), "+f"(d[6][3]), "+f"(d[7][0]),              \
      "+f"(d[7][1]), "+f"(d[7][2]), "+f"(d[7][3])
#define STC_WG_D                                                               \
  "{%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, "    \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, "     \
  "%30, %31}"

// d = A B + (acc ? d : 0) for one 64 x 64 x 16 chunk, A and B in shared
// memory; TA / TB: 0 K-major, 1 MN-major (transposed).
template <int TA, int TB>
__device__ __forceinline__ void mma_chunk_ss(float (&d)[8][4],
                                             unsigned long long a,
                                             unsigned long long b, bool acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n64k16.f32." STC_MMA_TYPE
               "." STC_MMA_TYPE " " STC_WG_D
               ", %32, %33, p, 1, 1, %35, %36;\n}\n"
               : STC_WG_ACC(d)
               : "l"(a), "l"(b), "r"(static_cast<int>(acc)), "n"(TA), "n"(TB)
               : "memory");
}

// The same with A in registers (an m16n8k16 A fragment per warp).
template <int TB>
__device__ __forceinline__ void mma_chunk_rs(float (&d)[8][4],
                                             const unsigned (&a)[4],
                                             unsigned long long b, bool acc) {
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"
               "wgmma.mma_async.sync.aligned.m64n64k16.f32." STC_MMA_TYPE
               "." STC_MMA_TYPE " " STC_WG_D
               ", {%32, %33, %34, %35}, %36, p, 1, 1, %38;\n}\n"
               : STC_WG_ACC(d)
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b),
                 "r"(static_cast<int>(acc)), "n"(TB)
               : "memory");
}

// Where the k16 chunk kk of a swizzled 64 x 64 tile starts: 32 kk bytes into
// the rows (K-major) or at row 16 kk (MN-major).
template <int MAJOR> __device__ __forceinline__ unsigned chunk(int kk) {
  return MAJOR ? 2048u * kk : 32u * kk;
}

// Issues d = A B (+ d if acc) over K = 64, A and B the swizzled 64 x 64
// tiles at shared addresses a and b. Not waited for: the caller fences
// before and commits and waits after.
template <int TA, int TB>
__device__ __forceinline__ void mma_ss(float (&d)[8][4], unsigned a,
                                       unsigned b, bool acc) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk)
    mma_chunk_ss<TA, TB>(d, desc_sw128(a + chunk<TA>(kk)),
                         desc_sw128(b + chunk<TB>(kk)), acc || kk > 0);
}

// Issues d += A B over K = 64, A in registers (a[kk]: the A fragment of k16
// chunk kk), B the swizzled tile at b.
template <int TB>
__device__ __forceinline__ void mma_rs(float (&d)[8][4],
                                       const unsigned (&a)[4][4], unsigned b) {
#pragma unroll
  for (int kk = 0; kk < 4; ++kk)
    mma_chunk_rs<TB>(d, a[kk], desc_sw128(b + chunk<TB>(kk)), true);
}
#undef STC_WG_ACC
#undef STC_WG_D
#endif

} // namespace wg

// Offset of element (b, t, h, 0) of a (B, T, H, D) tensor.
template <int T, int H, int D>
__device__ __forceinline__ long long row_offset(int b, int t, int h) {
  return ((static_cast<long long>(b) * T + t) * H + h) *
         static_cast<long long>(D);
}

// p[0] = x, p[1] = y as bf16 (with ACC: p[0] += x, p[1] += y, rounded once).
template <bool ACC>
__device__ __forceinline__ void store_pair(h16 *p, float x, float y) {
  if constexpr (ACC) {
    const float2 o = load_pair(p);
    x += o.x;
    y += o.y;
  }
  *reinterpret_cast<unsigned *>(p) = pack_h16(x, y);
}

// Positions t0 .. t0 + ROWS - 1 (rows Rows::row(t), attention_common.cuh;
// zeros past T) of head (b, h) -> the swizzled tile at `tile`, by all NT
// threads of the CTA (cp.async; the caller commits and waits).
template <int NT, int ROWS, int T, int H, int D, class Rows = SameRows>
__device__ __forceinline__ void load_tile(unsigned tile, const h16 *g, int b,
                                          int h, int t0) {
  constexpr int CPR = D / 8; // 16-byte units per row
  for (int i = threadIdx.x; i < ROWS * CPR; i += NT) {
    const int r = i / CPR, c = i - r * CPR,
              t = t0 + r < T ? Rows::row(t0 + r) : T;
    const bool ok = t < T;
    const h16 *src = g + (ok ? row_offset<T, H, D>(b, t, h) + c * 8 : 0);
    cp_async16(tile + swz(static_cast<unsigned>(i) * 16u), src, ok);
  }
}

// The A fragment (16 x 16) of rows r0 .. r0 + 15, columns 16 kk .. 16 kk + 15
// of a tile with D columns.
template <int D>
__device__ __forceinline__ void load_a(unsigned (&a)[4], unsigned tile, int r0,
                                       int kk) {
  const int lane = threadIdx.x & 31, mi = lane >> 3;
  const int row = r0 + (mi & 1) * 8 + (lane & 7), unit = 2 * kk + (mi >> 1);
  ldsm_x4(a, tile + swz(static_cast<unsigned>(row * (D / 8) + unit) * 16u));
}

// B fragments of two n8 tiles (columns n0 .. n0 + 15 of B) for k16 chunk kk,
// where B = X^T and X is a tile [n][k] (e.g. K in Q K^T): b[0], b[1] for
// n0 .. n0 + 7 and b[2], b[3] for n0 + 8 .. n0 + 15.
template <int D>
__device__ __forceinline__ void load_b_rows(unsigned (&b)[4], unsigned tile,
                                            int n0, int kk) {
  const int lane = threadIdx.x & 31, mi = lane >> 3;
  const int row = n0 + (mi >> 1) * 8 + (lane & 7), unit = 2 * kk + (mi & 1);
  ldsm_x4(b, tile + swz(static_cast<unsigned>(row * (D / 8) + unit) * 16u));
}

// B fragments of two n8 tiles (columns 8 nj .. 8 nj + 15) for k16 chunk kk,
// where B is a tile [k][n] itself (e.g. V in P V): b[0], b[1] for n8 tile nj,
// b[2], b[3] for nj + 1.
template <int D>
__device__ __forceinline__ void load_b_cols(unsigned (&b)[4], unsigned tile,
                                            int kk, int nj) {
  const int lane = threadIdx.x & 31, mi = lane >> 3;
  const int row = 16 * kk + (mi & 1) * 8 + (lane & 7), unit = nj + (mi >> 1);
  ldsm_x4_trans(b, tile + swz(static_cast<unsigned>(row * (D / 8) + unit) * 16u));
}

// The key tiles of query rows [q0, q0 + NQ) (within one layout block row),
// BN keys each, walking the row's listed blocks (CSR). Keys past the last
// query row are never visited; tiles of partial blocks without an allowed
// pair are skipped. next() is collective.
template <int T, int BN, int NQ, int NT, class L> struct RowTiles {
  const int *col_idx, *classes;
  int e, e1, kc = -1, kb1 = 0, q0, qlast;
  bool full = false;

  RowTiles() = default; // GroupRowTiles assigns its cursors
  __device__ RowTiles(const int *row_ptr, const int *col_idx_,
                      const int *classes_, int q0_)
      : col_idx(col_idx_), classes(classes_), q0(q0_) {
    const int r = q0 / L::block;
    e = row_ptr[r];
    e1 = row_ptr[r + 1];
    qlast = min(q0 + NQ, T) - 1;
  }

  __device__ bool next() {
    for (;;) {
      if (e >= e1)
        return false;
      if (kc < 0) {
        const int kb0 = col_idx[e] * L::block;
        kc = kb0;
        kb1 = min(min(kb0 + L::block, T), qlast + 1);
        full = classes[e] == 2;
      } else {
        kc += BN;
      }
      if (kc >= kb1) {
        ++e;
        kc = -1;
        continue;
      }
      // A tile that is the whole listed block has an allowed pair.
      if (full || (BN == L::block && NQ == L::block) ||
          chunk_has_pair<NT, T, L>(q0, NQ, kc, min(BN, kb1 - kc)))
        return true;
    }
  }
};

// The key tiles of G groups of 64 query rows, [q0 + 64 g, q0 + 64 g + 64)
// (each within one layout block row, not necessarily the same one): the
// union of the groups' RowTiles walks in ascending order, so that one K/V
// tile in shared memory serves every group that lists it. After next(),
// kc is the tile, and in(g) / full(g) say whether group g visits it and
// whether it is a full block for g. A group past T visits nothing. next() is
// collective.
template <int T, int BN, int G, int NT, class L> struct GroupRowTiles {
  struct Cursor {
    RowTiles<T, BN, 64, NT, L> walk;
    bool live;
  };
  Cursor c[G];
  int kc = -1;
  bool started = false;

  __device__ GroupRowTiles(const int *row_ptr, const int *col_idx,
                           const int *classes, int q0) {
#pragma unroll
    for (int g = 0; g < G; ++g) {
      const int qg = q0 + 64 * g;
      // A group past T reads row 0's bounds and never walks them.
      c[g] = Cursor{RowTiles<T, BN, 64, NT, L>(row_ptr, col_idx, classes,
                                               qg < T ? qg : 0),
                    qg < T};
    }
  }

  // (Compile-time indices only: a run-time index would put c in local
  // memory.)
  __device__ bool in(int g) const {
    bool r = false;
#pragma unroll
    for (int i = 0; i < G; ++i)
      if (i == g)
        r = c[i].live && c[i].walk.kc == kc;
    return r;
  }
  __device__ bool full(int g) const {
    bool r = false;
#pragma unroll
    for (int i = 0; i < G; ++i)
      if (i == g)
        r = c[i].walk.full;
    return r;
  }

  __device__ bool next() {
#pragma unroll
    for (int g = 0; g < G; ++g)
      if (c[g].live && (!started || c[g].walk.kc == kc))
        c[g].live = c[g].walk.next();
    started = true;
    kc = T;
#pragma unroll
    for (int g = 0; g < G; ++g)
      if (c[g].live)
        kc = min(kc, c[g].walk.kc);
    return kc < T;
  }
};

// The query tiles of key rows [k0, k0 + NK) (within one layout block
// column), BM queries each, walking the column's listed blocks (CSC). Query
// rows before k0 are never visited (they precede every key); tiles of
// partial blocks without an allowed pair are skipped. next() is collective.
template <int T, int BM, int NK, int NT, class L> struct ColTiles {
  const int *row_idx, *classes;
  int e, e1, qc = -1, qb1 = 0, k0;
  bool full = false;

  __device__ ColTiles(const int *col_ptr, const int *row_idx_,
                      const int *classes_, int k0_)
      : row_idx(row_idx_), classes(classes_), k0(k0_) {
    const int c = k0 / L::block;
    e = col_ptr[c];
    e1 = col_ptr[c + 1];
  }

  __device__ bool next() {
    for (;;) {
      if (e >= e1)
        return false;
      if (qc < 0) {
        const int qb0 = row_idx[e] * L::block;
        qb1 = min(qb0 + L::block, T);
        // Skip whole query tiles above the key rows (the diagonal block).
        qc = qb0 + max(0, (k0 - qb0) / BM) * BM;
        full = classes[e] == 2;
      } else {
        qc += BM;
      }
      if (qc >= qb1) {
        ++e;
        qc = -1;
        continue;
      }
      if (full || (BM == L::block && NK == L::block) ||
          chunk_has_pair<NT, T, L>(qc, min(BM, qb1 - qc), k0, NK))
        return true;
    }
  }
};

} // namespace mma
} // namespace stc

#endif // STC_DEVICE_ATTENTION_MMA_CUH
