"SpotAttention decode kernels (MXFP4 selector scoring, top-K mask, sparse GQA decode): Triton on CUDA, torch references elsewhere."
from __future__ import annotations
import torch
from ..dispatch import check_backend, use_triton
from .naive import mxfp4_score_ref, topk_mask_ref, sparse_decode_ref

__all__ = ['mxfp4_score', 'topk_mask', 'sparse_decode', 'mxfp4_score_ref', 'topk_mask_ref', 'sparse_decode_ref']

def mxfp4_score(q: torch.Tensor,       # [R, D] one selector query per (batch, KV head)
                codes: torch.Tensor,   # [R, T, D/2] uint8 packed E2M1 codes
                scales: torch.Tensor,  # [R, T, D/32] uint8 E8M0 exponents
                scale: float = 1.0, backend: str = 'auto') -> torch.Tensor:
    "Selector scores [R, T] against an MXFP4 K-cache, dequantising on the fly."
    check_backend(backend)
    if use_triton(backend, q.device):
        from .fused import mxfp4_score_triton
        return mxfp4_score_triton(q, codes, scales, scale)
    return mxfp4_score_ref(q, codes, scales, scale)

def topk_mask(scores: torch.Tensor, k: int, backend: str = 'auto') -> torch.Tensor:
    "Boolean [R, T] mask of each row's k largest scores (ties at the k-th value kept)."
    check_backend(backend)
    if use_triton(backend, scores.device):
        from .fused import topk_mask_triton
        return topk_mask_triton(scores, k)
    return topk_mask_ref(scores, k)

def sparse_decode(q, k, v, idx, ok, scale=None, backend: str = 'auto'):
    "Decode attention [R, G, D] of G query heads per KV head over the selected keys only."
    check_backend(backend)
    if use_triton(backend, q.device):
        from .fused import sparse_decode_triton
        return sparse_decode_triton(q, k, v, idx, ok, scale)
    return sparse_decode_ref(q, k, v, idx, ok, scale)
