"Plain-torch references for the SpotAttention decode kernels: packed 4-bit selector scoring, top-p / top-k selection (indices), sparse GQA decode."
from __future__ import annotations
import math
import torch
from ..dispatch import check_later

__all__ = ['E2M1_VALUES', 'FMT_BLOCK', 'check_score_inputs', 'mxfp4_score_ref', 'check_topk_inputs', 'topk_mask_ref',
           'check_decode_inputs', 'sparse_decode_ref', 'check_packed_inputs', 'decode_packed', 'packed_score_ref',
           'check_select_inputs', 'select_ref']

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
    check_later(torch.isnan(scores), "scores hold NaN")

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
    if idx.numel(): check_later((idx < 0) | (idx >= k.shape[1]), "idx out of range of the cache")

def sparse_decode_ref(q, k, v, idx, ok, scale=None):
    "Decode attention [R, G, D] of G query heads per row over the keys `idx` [R, K] where `ok`."
    check_decode_inputs(q, k, v, idx, ok)
    D = q.shape[-1]
    g = idx[:, :, None].expand(-1, -1, D)
    kg, vg = k.float().gather(1, g), v.float().gather(1, g)                       # [R, K, D]
    s = (q.float() @ kg.transpose(1, 2)) * (scale or D ** -0.5)                   # [R, G, K]
    s = s.masked_fill(~ok[:, None, :], -math.inf)
    return (s.softmax(-1) @ vg).to(q.dtype)

# --- the integration's interfaces: packed caches as `PackedKeys` holds them, indices out ---------------------------

FMT_BLOCK = {'int4': 32, 'mxfp4': 32, 'nvfp4': 16}

def check_packed_inputs(q, codes, scales, fmt):
    "Raise unless q [B, H, Tq, D] float, codes [B, H, T, D/2] uint8 and scales [B, H, T, D/block] form a packed scoring input."
    if fmt not in FMT_BLOCK: raise ValueError(f"unknown format {fmt!r}; expected one of {list(FMT_BLOCK)}")
    if not all(isinstance(t, torch.Tensor) for t in (q, codes, scales)): raise TypeError("q, codes and scales must be torch.Tensor")
    if q.dim() != 4 or not q.is_floating_point(): raise ValueError(f"q must be a float [B, H, Tq, D] tensor, got {tuple(q.shape)} {q.dtype}")
    B, H, Tq, D = q.shape
    if D % FMT_BLOCK[fmt]: raise ValueError(f"{fmt} needs D to be a multiple of {FMT_BLOCK[fmt]}, got {D}")
    if codes.dtype != torch.uint8 or codes.dim() != 4 or tuple(codes.shape[:2]) != (B, H) or codes.shape[3] != D // 2:
        raise ValueError(f"codes must be uint8 [B={B}, H={H}, T, D/2={D // 2}], got {tuple(codes.shape)} {codes.dtype}")
    sdt = torch.float16 if fmt == 'int4' else torch.uint8
    if scales.dtype != sdt or tuple(scales.shape) != (B, H, codes.shape[2], D // FMT_BLOCK[fmt]):
        raise ValueError(f"scales must be {sdt} [B, H, T, D/{FMT_BLOCK[fmt]}] = {(B, H, codes.shape[2], D // FMT_BLOCK[fmt])}, got {tuple(scales.shape)} {scales.dtype}")

def decode_packed(codes, scales, fmt, tensor_scale: float = 1.0):
    "fp32 keys [B, H, T, D] of packed codes (low nibble first) and block scales."
    c = torch.stack([codes & 15, codes >> 4], -1).flatten(-2)                       # [B, H, T, D]
    blk = FMT_BLOCK[fmt]
    if fmt == 'int4': v, s = c.float() - 8, scales.float()
    else:
        v = torch.tensor(E2M1_VALUES, device=codes.device)[(c & 7).long()]
        v = torch.where((c & 8) > 0, -v, v)
        s = torch.exp2(scales.float() - 127) if fmt == 'mxfp4' else scales.view(torch.float8_e4m3fn).float() * tensor_scale
    return v * s.repeat_interleave(blk, -1)

def packed_score_ref(q, codes, scales, fmt: str, scale: float = 1.0, tensor_scale: float = 1.0):
    "Scores [B, H, Tq, T] = scale · q · keysᵀ against a packed 4-bit cache (int4 / mxfp4 / nvfp4)."
    check_packed_inputs(q, codes, scales, fmt)
    return (q.float() @ decode_packed(codes, scales, fmt, tensor_scale).transpose(-1, -2)) * scale

def check_select_inputs(logits, pos, p, k_min, k_max, n_sink, n_recent):
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or not logits.is_floating_point():
        raise ValueError("logits must be a float [R, T] tensor")
    if not isinstance(pos, torch.Tensor) or pos.shape != logits.shape[:1] or pos.dtype != torch.int64:
        raise ValueError(f"pos must be int64 [R={logits.shape[0]}]: each row's query position")
    if p is not None and not 0 < p <= 1: raise ValueError(f"p must be None (top-k) or in (0, 1], got {p}")
    for n, v in dict(k_min=k_min, k_max=k_max, n_sink=n_sink, n_recent=n_recent).items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 0: raise ValueError(f"{n} must be an int >= 0, got {v!r}")
    if not 0 < k_min <= k_max: raise ValueError(f"need 0 < k_min <= k_max, got {k_min}, {k_max}")
    check_later(torch.isnan(logits), "logits hold NaN")

def select_ref(logits, pos, p: float | None, k_min: int, k_max: int, n_sink: int = 0, n_recent: int = 0):
    "Kept keys of each row: (idx [R, k_max] int64 in ascending key order, ok [R, k_max], budget [R]).\n\n    Keys after `pos` are invalid; sinks (< n_sink) and the recent window (> pos − n_recent) are always kept; then the\n    other keys by descending logit, as few as reach softmax mass ≥ p (all valid keys' softmax), the total budget\n    clamped to [max(k_min, forced), min(k_max, valid)]. p=None: top-k, budget = min(k_max, valid), k_min ignored."
    check_select_inputs(logits, pos, p, k_min, k_max, n_sink, n_recent)
    R, T = logits.shape
    t = torch.arange(T, device=logits.device)[None]
    valid = t <= pos[:, None]
    forced = valid & ((t < n_sink) | (t > pos[:, None] - n_recent))
    s = logits.float().masked_fill(~valid, -math.inf)
    pr = s.softmax(-1)
    n_valid, n_forced = valid.sum(-1), forced.sum(-1)
    order = torch.where(forced, math.inf, s).masked_fill(~valid, -math.inf).sort(dim=-1, descending=True, stable=True).indices
    mass = pr.gather(-1, order).cumsum(-1)
    need = (mass < p - 1e-6).sum(-1) + 1 if p is not None else torch.full_like(n_valid, k_max)
    lo = torch.maximum(n_forced, torch.full_like(n_forced, k_min if p is not None else 0))
    budget = torch.minimum(torch.maximum(need, lo), torch.minimum(n_valid, torch.full_like(n_valid, k_max)))
    budget = torch.maximum(budget, n_forced.clamp(max=k_max))
    keep = torch.arange(T, device=logits.device)[None] < budget[:, None]
    kept = torch.zeros(R, T, dtype=torch.bool, device=logits.device).scatter(1, order, keep)
    idx = torch.where(kept, t, T).sort(-1).values[:, :k_max]
    if idx.shape[1] < k_max: idx = torch.cat([idx, idx.new_full((R, k_max - idx.shape[1]), T)], 1)   # always k_max columns
    ok = idx < T
    return idx.masked_fill(~ok, 0), ok, budget
