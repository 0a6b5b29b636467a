"Plain-torch references for the SpotAttention decode kernels: MXFP4 selector scoring, top-K masks, sparse GQA decode."
from __future__ import annotations
import math
import torch

__all__ = ['E2M1_VALUES', 'check_score_inputs', 'mxfp4_score_ref', 'check_topk_inputs', 'topk_mask_ref',
           'check_decode_inputs', 'sparse_decode_ref']

E2M1_VALUES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0)

def check_score_inputs(q, codes, scales):
    "Raise unless q [R, D] float, codes [R, T, D/2] uint8 and scales [R, T, D/32] uint8 form an MXFP4 scoring input."
    if not all(isinstance(t, torch.Tensor) for t in (q, codes, scales)): raise TypeError("q, codes and scales must be torch.Tensor")
    if q.dim() != 2 or not q.is_floating_point(): raise ValueError(f"q must be a float [R, D] tensor, got {tuple(q.shape)} {q.dtype}")
    R, D = q.shape
    if D % 32: raise ValueError(f"MXFP4 needs D to be a multiple of 32, got {D}")
    if codes.dtype != torch.uint8 or codes.dim() != 3 or codes.shape[0] != R or codes.shape[2] != D // 2:
        raise ValueError(f"codes must be uint8 [R={R}, T, D/2={D // 2}], got {tuple(codes.shape)} {codes.dtype}")
    if scales.dtype != torch.uint8 or tuple(scales.shape) != (R, codes.shape[1], D // 32):
        raise ValueError(f"scales must be uint8 [R, T, D/32] = {(R, codes.shape[1], D // 32)}, got {tuple(scales.shape)} {scales.dtype}")

def _decode_mxfp4(codes, scales, D):
    c = torch.stack([codes & 15, codes >> 4], -1).flatten(-2)                     # [R, T, D]
    v = torch.tensor(E2M1_VALUES, device=codes.device)[(c & 7).long()]
    v = torch.where((c & 8) > 0, -v, v)
    return v * torch.exp2(scales.float() - 127).repeat_interleave(32, -1)

def mxfp4_score_ref(q: torch.Tensor, codes: torch.Tensor, scales: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    "Scores [R, T] = scale · q · dequant(keys): one selector query per row against its MXFP4 K-cache."
    check_score_inputs(q, codes, scales)
    k = _decode_mxfp4(codes, scales, q.shape[1])
    return (k @ q.float()[:, :, None]).squeeze(-1) * scale

def check_topk_inputs(scores, k):
    if not isinstance(scores, torch.Tensor) or scores.dim() != 2 or not scores.is_floating_point():
        raise ValueError("scores must be a float [R, T] tensor")
    if not isinstance(k, int) or not 0 < k <= scores.shape[1]: raise ValueError(f"k must be an int in [1, {scores.shape[1]}], got {k}")
    if torch.isnan(scores).any(): raise ValueError("scores hold NaN")

def topk_mask_ref(scores: torch.Tensor, k: int) -> torch.Tensor:
    "Boolean [R, T]: scores ≥ the k-th largest of their row (ties kept)."
    check_topk_inputs(scores, k)
    kth = scores.float().topk(k, -1).values[:, -1:]
    return scores.float() >= kth

def check_decode_inputs(q, k, v, idx, ok):
    if q.dim() != 3 or k.dim() != 3 or v.shape != k.shape: raise ValueError("need q [R, G, D], k and v [R, T, D]")
    if q.shape[0] != k.shape[0] or q.shape[2] != k.shape[2]: raise ValueError(f"q {tuple(q.shape)} and k {tuple(k.shape)} disagree on R or D")
    if idx.dtype != torch.int64 or idx.dim() != 2 or idx.shape[0] != q.shape[0] or ok.shape != idx.shape:
        raise ValueError("idx must be int64 [R, K] and ok a mask of the same shape")
    if ok.dtype != torch.bool: raise TypeError("ok must be bool")
    if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= k.shape[1]): raise ValueError("idx out of range of the cache")

def sparse_decode_ref(q, k, v, idx, ok, scale=None):
    "Decode attention [R, G, D] of G query heads per row over the keys `idx` [R, K] where `ok`."
    check_decode_inputs(q, k, v, idx, ok)
    D = q.shape[-1]
    g = idx[:, :, None].expand(-1, -1, D)
    kg, vg = k.float().gather(1, g), v.float().gather(1, g)                       # [R, K, D]
    s = (q.float() @ kg.transpose(1, 2)) * (scale or D ** -0.5)                   # [R, G, K]
    s = s.masked_fill(~ok[:, None, :], -math.inf)
    return (s.softmax(-1) @ vg).to(q.dtype)
