"SpotAttention decode kernels on the integration's layouts (packed 4-bit selector scoring, adaptive top-p / top-k selection returning indices, sparse GQA decode): Triton on CUDA, torch references elsewhere."
from __future__ import annotations
import torch
from ..dispatch import check_backend, use_triton
from .naive import (FMT_BLOCK, SM_COUNT, packed_score_ref, select_ref, sparse_decode_ref, mxfp4_score_ref, topk_mask_ref,
                    check_n_splits, split_plan, sparse_decode_partials_ref, combine_splits_ref, sparse_decode_split_ref,
                    select_plan, select_split_ref)

__all__ = ['FMT_BLOCK', 'SM_COUNT', 'packed_score', 'select', 'sparse_decode', 'packed_score_ref', 'select_ref', 'sparse_decode_ref',
           'mxfp4_score_ref', 'topk_mask_ref', 'split_plan', 'sparse_decode_partials_ref', 'combine_splits_ref',
           'sparse_decode_split_ref', 'select_plan', 'select_split_ref']

def packed_score(q: torch.Tensor,       # [B, H, Tq, D] queries
                 codes: torch.Tensor,   # [B, H, T, D/2] uint8, two 4-bit codes a byte (low nibble first), as `PackedKeys` holds them
                 scales: torch.Tensor,  # [B, H, T, D/block]: fp16 (int4), E8M0 bits (mxfp4) or E4M3 bits (nvfp4)
                 fmt: str, scale: float = 1.0, tensor_scale: float = 1.0, backend: str = 'auto') -> torch.Tensor:
    "Scores [B, H, Tq, T] fp32 of every cached key, read from the packed codes (the kernel never decodes a key to memory)."
    check_backend(backend)
    if use_triton(backend, q.device):
        from .fused import packed_score_triton
        return packed_score_triton(q, codes, scales, fmt, scale, tensor_scale)
    return packed_score_ref(q, codes, scales, fmt, scale, tensor_scale)

def select(logits: torch.Tensor,   # [R, T] scores of each row's keys (higher: keep)
           pos: torch.Tensor,      # [R] int64 query position of each row (later keys are invalid)
           p: float | None,        # top-p target mass; None: top-k
           k_min: int, k_max: int, n_sink: int = 0, n_recent: int = 0, backend: str = 'auto', n_chunks: int | None = 1):
    """(idx [R, k_max] int64 in key order, ok [R, k_max] bool, budget [R]): sinks and recent window, then the fewest top keys reaching mass p (budget in [k_min, k_max]), or the top k_max.

    The Triton path can split each row's scores into chunks, one program per (row, chunk) for every scan of the row
    (`n_chunks=None`: as many as `select_plan` picks from R and T). The default stays `n_chunks=1`, the one-program-a-row
    kernel, the one compiled and tested on an H100: the split path is tested in the Triton interpreter only, never
    compiled by real Triton nor timed on a GPU (`tools/gpu_bench.py` times both). The torch path ignores `n_chunks`
    (validated all the same)."""
    check_backend(backend)
    select_plan(0, 0, n_chunks)                     # validates n_chunks
    if use_triton(backend, logits.device):
        from .fused import select_triton
        return select_triton(logits, pos, p, k_min, k_max, n_sink, n_recent, n_chunks=n_chunks)
    return select_ref(logits, pos, p, k_min, k_max, n_sink, n_recent)

def sparse_decode(q, k, v, idx, ok, scale=None, backend: str = 'auto', n_splits: int | None = None):
    """Decode attention [R, G, D] of G query heads per KV head over the selected keys only (k, v [R, T, D] may be strided views).

    The Triton path splits each row's selected keys across programs (split-K; `n_splits=None`: as many as `split_plan`
    picks from R and K, 1: one program a row). The torch path runs the full softmax, or with an explicit
    `n_splits` > 1 the split-then-combine reference `sparse_decode_split_ref` (equal up to rounding)."""
    check_backend(backend)
    check_n_splits(n_splits)
    if use_triton(backend, q.device):
        from .fused import sparse_decode_triton
        return sparse_decode_triton(q, k, v, idx, ok, scale, n_splits=n_splits)
    if n_splits is not None and n_splits > 1: return sparse_decode_split_ref(q, k, v, idx, ok, n_splits, scale)
    return sparse_decode_ref(q, k, v, idx, ok, scale)
