"""Triton kernels for SpotAttention decode: MXFP4 selector scoring with fused dequantisation, a top-K
threshold mask by bisection, and sparse GQA decode attention with an online softmax.

This module imports `triton` at import time; `lmpapers.kernels.spot` imports it lazily.
"""
from __future__ import annotations
import torch, triton
import triton.language as tl
from .naive import check_score_inputs, check_topk_inputs, check_decode_inputs

__all__ = ['mxfp4_score_triton', 'topk_mask_triton', 'sparse_decode_triton', 'is_interpreted']

@triton.jit
def _e2m1(c):
    m = c & 7
    e = m >> 1
    mant = (m & 1).to(tl.float32)
    mag = tl.where(e == 0, 0.5 * mant, (1.0 + 0.5 * mant) * tl.where(e == 1, 1.0, tl.where(e == 2, 2.0, 4.0)))
    return tl.where((c & 8) > 0, -mag, mag)

@triton.jit
def mxfp4_score_kernel(q_ptr, codes_ptr, scales_ptr, out_ptr, T, scale,
                       HALF: tl.constexpr, NB: tl.constexpr, BLOCK_T: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    tb = tl.program_id(1)
    t = tb * BLOCK_T + tl.arange(0, BLOCK_T)                          # [BLOCK_T]
    j = tl.arange(0, HALF)                                            # [HALF] byte index in a key
    tm = t < T
    c = tl.load(codes_ptr + row * T * HALF + t[:, None] * HALF + j[None, :], mask=tm[:, None], other=0)
    s = tl.load(scales_ptr + row * T * NB + t[:, None] * NB + (j // 16)[None, :], mask=tm[:, None], other=127)
    f = tl.exp2(s.to(tl.float32) - 127.0)
    q_even = tl.load(q_ptr + row * 2 * HALF + 2 * j).to(tl.float32)
    q_odd = tl.load(q_ptr + row * 2 * HALF + 2 * j + 1).to(tl.float32)
    acc = (_e2m1(c & 15) * q_even[None, :] + _e2m1(c >> 4) * q_odd[None, :]) * f
    tl.store(out_ptr + row * T + t, tl.sum(acc, axis=1) * scale, mask=tm)

@triton.jit
def _ordered(x):
    "fp32 -> int64 whose order is the float order (sign-magnitude bits flipped for negatives)."
    b = x.to(tl.int32, bitcast=True)
    return tl.where(b < 0, b ^ 0x7FFFFFFF, b).to(tl.int64)

@triton.jit
def topk_mask_kernel(s_ptr, out_ptr, T, K, ITERS: tl.constexpr, BLOCK_T: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    offs = tl.arange(0, BLOCK_T)
    # binary search over the 32-bit ordered keys for the largest t with count(key >= t) >= K
    lo = tl.full([], -2147483648, tl.int64)       # count(key >= lo) = T >= K
    hi = tl.full([], 2147483648, tl.int64)        # count(key >= hi) = 0 < K
    for _ in range(ITERS):
        mid = lo + (hi - lo) // 2
        cnt = 0
        for start in range(0, T, BLOCK_T):
            m = start + offs < T
            x = _ordered(tl.load(s_ptr + row * T + start + offs, mask=m, other=0.0).to(tl.float32))
            cnt += tl.sum(((x >= mid) & m).to(tl.int32), axis=0)
        ge = cnt >= K
        lo = tl.where(ge, mid, lo)
        hi = tl.where(ge, hi, mid)
    for start in range(0, T, BLOCK_T):
        m = start + offs < T
        x = _ordered(tl.load(s_ptr + row * T + start + offs, mask=m, other=0.0).to(tl.float32))
        tl.store(out_ptr + row * T + start + offs, (x >= lo).to(tl.int8), mask=m)

@triton.jit
def sparse_decode_kernel(q_ptr, k_ptr, v_ptr, idx_ptr, ok_ptr, out_ptr, T, K, G, D, scale,
                         G_P: tl.constexpr, D_P: tl.constexpr, BLOCK_K: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    gi = tl.arange(0, G_P); di = tl.arange(0, D_P); ki = tl.arange(0, BLOCK_K)
    gm, dm = gi < G, di < D
    q = tl.load(q_ptr + row * G * D + gi[:, None] * D + di[None, :], mask=gm[:, None] & dm[None, :], other=0.0).to(tl.float32)
    m_i = tl.full([G_P], float('-inf'), tl.float32)
    l_i = tl.zeros([G_P], tl.float32)
    acc = tl.zeros([G_P, D_P], tl.float32)
    for start in range(0, K, BLOCK_K):
        km = start + ki < K
        ix = tl.load(idx_ptr + row * K + start + ki, mask=km, other=0)
        ok = tl.load(ok_ptr + row * K + start + ki, mask=km, other=0) != 0
        valid = km & ok
        kt = tl.load(k_ptr + row * T * D + ix[:, None] * D + di[None, :], mask=valid[:, None] & dm[None, :], other=0.0).to(tl.float32)
        vt = tl.load(v_ptr + row * T * D + ix[:, None] * D + di[None, :], mask=valid[:, None] & dm[None, :], other=0.0).to(tl.float32)
        s = tl.sum(q[:, None, :] * kt[None, :, :], axis=2) * scale                    # [G_P, BLOCK_K]
        s = tl.where(valid[None, :], s, float('-inf'))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        m_safe = tl.where(m_new == float('-inf'), 0.0, m_new)
        alpha = tl.exp(m_i - m_safe)
        pexp = tl.exp(s - m_safe[:, None])
        l_i = l_i * alpha + tl.sum(pexp, axis=1)
        acc = acc * alpha[:, None] + tl.sum(pexp[:, :, None] * vt[None, :, :], axis=1)
        m_i = m_new
    out = acc / l_i[:, None]
    tl.store(out_ptr + row * G * D + gi[:, None] * D + di[None, :], out.to(out_ptr.dtype.element_ty), mask=gm[:, None] & dm[None, :])

def is_interpreted() -> bool:
    "True when the kernels were built by Triton's CPU interpreter (TRITON_INTERPRET=1 at import)."
    return type(mxfp4_score_kernel).__name__ == 'InterpretedFunction'

def _check_device(t):
    if t.device.type != 'cuda' and not is_interpreted():
        raise RuntimeError("the SpotAttention Triton kernels need CUDA tensors, or TRITON_INTERPRET=1 set before triton is imported")

def mxfp4_score_triton(q, codes, scales, scale: float = 1.0, block_t: int | None = None):
    "Triton version of `mxfp4_score_ref`."
    check_score_inputs(q, codes, scales); _check_device(q)
    R, T, HALF = codes.shape
    out = torch.empty(R, T, dtype=torch.float32, device=q.device)
    bt = block_t or (min(4096, triton.next_power_of_2(max(T, 1))) if is_interpreted() else 128)
    if R and T:
        mxfp4_score_kernel[(R, triton.cdiv(T, bt))](q.contiguous(), codes.contiguous(), scales.contiguous(), out, T, float(scale),
                                                   HALF=HALF, NB=HALF // 16, BLOCK_T=bt)
    return out

def topk_mask_triton(scores, k: int, iters: int = 32, block_t: int | None = None):
    "Triton version of `topk_mask_ref`: exact k-th value by binary search over the ordered float bits (32 passes)."
    check_topk_inputs(scores, k); _check_device(scores)
    R, T = scores.shape
    s = scores.float().contiguous()
    out = torch.empty(R, T, dtype=torch.int8, device=scores.device)
    bt = block_t or min(65536 if is_interpreted() else 4096, triton.next_power_of_2(T))
    topk_mask_kernel[(R,)](s, out, T, k, ITERS=iters, BLOCK_T=bt)
    return out.bool()

def sparse_decode_triton(q, k, v, idx, ok, scale=None, block_k: int | None = None):
    "Triton version of `sparse_decode_ref`."
    check_decode_inputs(q, k, v, idx, ok); _check_device(q)
    R, G, D = q.shape
    K = idx.shape[1]
    out = torch.empty_like(q)
    bk = block_k or min(1024 if is_interpreted() else 64, triton.next_power_of_2(max(K, 1)))
    sparse_decode_kernel[(R,)](q.contiguous(), k.contiguous(), v.contiguous(), idx.contiguous(), ok.to(torch.int8).contiguous(),
                               out, k.shape[1], K, G, D, float(scale or D ** -0.5),
                               G_P=triton.next_power_of_2(G), D_P=triton.next_power_of_2(D), BLOCK_K=bk)
    return out
