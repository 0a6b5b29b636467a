"Plain-torch references for the SpotAttention decode kernels: packed 4-bit selector scoring, top-p / top-k selection (indices), sparse GQA decode."
from __future__ import annotations
import math
import torch
from ..dispatch import check_later

__all__ = ['E2M1_VALUES', 'FMT_BLOCK', 'check_score_inputs', 'mxfp4_score_ref', 'check_topk_inputs', 'topk_mask_ref',
           'check_decode_inputs', 'sparse_decode_ref', 'check_packed_inputs', 'decode_packed', 'packed_score_ref',
           'check_select_inputs', 'select_ref', 'SM_COUNT', 'check_n_splits', 'split_plan', 'sparse_decode_partials_ref', 'combine_splits_ref',
           'sparse_decode_split_ref', 'select_plan', 'select_split_ref']

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

# --- split-K (flash-decoding): each row's selected keys in chunks, one program a chunk, then a combine -----------------

SM_COUNT = 132   # streaming multiprocessors of an H100 SXM: the default when no CUDA device says otherwise

def check_n_splits(n_splits):
    "Raise unless `n_splits` is None (chosen from the shapes) or an int >= 1."
    if n_splits is not None and (isinstance(n_splits, bool) or not isinstance(n_splits, int) or n_splits < 1):
        raise ValueError(f"n_splits must be None (chosen from the shapes) or an int >= 1, got {n_splits!r}")

def split_plan(R: int, K: int, n_splits: int | None = None, n_sm: int = SM_COUNT, waves: int = 4,
               min_keys: int = 32) -> tuple[int, int]:
    """(n_splits, keys per split) for R rows of K selected keys; every split holds at least one slot.

    `n_splits=None` picks the count from the shapes alone (no device read, so no host sync): none when the rows
    alone fill the SMs (R >= n_sm), else enough splits that R · n_splits reaches `waves · n_sm` programs, but no
    split shorter than `min_keys` slots (rounded up to a multiple of it, so GPU tiles of `min_keys` keys never
    straddle two splits). A split's partial (G·D fp32 values, plus m and l) is written and read again by the
    combine: against the 2·min_keys·D fp16/bf16 values of K and V it reads, that is G/min_keys more traffic (12% at
    G=4, min_keys=32) — the floor bounds it, so at short selections and few rows the count stays under the target.
    Measured on one H100 (Triton 3.6; bf16, G=4, D=128, batch 1, 8 KV heads; medians of CUDA-graph replays of the
    sparse-decode step, one run each):
    K=2048: 1 split 0.589 ms, 8 of 256 slots 0.114, 16 of 128 0.084, 32 of 64 0.082, 64 of 32 0.064, 128 of 16
    0.084; K=512: 1 split 0.175 ms, 8 of 64 0.058, 16 of 32 0.034, 64 of 8 0.046 — hence the floor of 32; at batch 4
    (R=32), 16 splits of 128: 0.184 ms against 0.603; at batch 32 (R=256), 3 splits of 704 took 1.063 ms against
    1.027 for one program a row — hence no split once R >= n_sm. An explicit `n_splits` is kept, except that splits
    that would be empty are dropped (the count is ceil(K / ceil(K / n_splits)))."""
    for n, x in dict(R=R, K=K, n_sm=n_sm, waves=waves, min_keys=min_keys).items():
        if isinstance(x, bool) or not isinstance(x, int) or x < (0 if n in ('R', 'K') else 1):
            raise ValueError(f"{n} must be an int >= {0 if n in ('R', 'K') else 1}, got {x!r}")
    check_n_splits(n_splits)
    if K == 0: return 1, 0
    if n_splits is None:
        if R >= n_sm: return 1, K
        want = -(-waves * n_sm // max(R, 1))                       # splits a row for R·splits >= waves·n_sm
        kps = max(min_keys, -(-K // want))
        kps = -(-kps // min_keys) * min_keys
    else: kps = -(-K // n_splits)
    return -(-K // kps), kps

def sparse_decode_partials_ref(q, k, v, idx, ok, n_splits: int, scale=None):
    """Per-split softmax summaries of `sparse_decode_ref`: (o [R, S, G, D], m [R, S, G], l [R, S, G]), fp32.

    Split i holds slots [i·c, min((i+1)·c, K)) with c = ceil(K / n_splits). Over its valid slots j (ok true), with
    scores s_j: m_i = max s_j, l_i = Σ exp(s_j − m_i), o_i = Σ exp(s_j − m_i) v_j / l_i. A split without a valid slot
    has m_i = −inf, l_i = 0 and o_i = 0 (not 0/0), so it adds nothing in `combine_splits_ref`."""
    check_decode_inputs(q, k, v, idx, ok)
    R, G, D = q.shape
    K = idx.shape[1]
    S, c = split_plan(R, K, n_splits)
    g = idx[:, :, None].expand(-1, -1, D)
    kg, vg = k.float().gather(1, g), v.float().gather(1, g)                       # [R, K, D]
    s = ((q.float() @ kg.transpose(1, 2)) * (scale or D ** -0.5)).masked_fill(~ok[:, None, :], -math.inf)
    pad = S * c - K                                                               # the last split's missing slots
    s = torch.nn.functional.pad(s, (0, pad), value=-math.inf).view(R, G, S, c)
    vg = torch.nn.functional.pad(vg, (0, 0, 0, pad)).view(R, S, c, D)
    m = s.amax(-1)                                                                # [R, G, S]
    e = (s - torch.where(m == -math.inf, 0.0, m)[..., None]).exp()                # exp(−inf) = 0 on invalid slots
    l = e.sum(-1)
    o = torch.einsum('rgsc,rscd->rsgd', e, vg) / torch.where(l > 0, l, 1.0).transpose(1, 2)[..., None]
    return o, m.transpose(1, 2).contiguous(), l.transpose(1, 2).contiguous()

def combine_splits_ref(o, m, l, dtype=None):
    """Merge per-split summaries (o [R, S, G, D], m, l [R, S, G]) into the attention output [R, G, D].

    Derivation. Over all valid slots, softmax attention is out = Σ_j e^{s_j − M} v_j / Σ_j e^{s_j − M} for any
    constant M. Group the sums by split: for j in split i, e^{s_j − M} = e^{m_i − M} e^{s_j − m_i}, so
    Σ_{j∈i} e^{s_j − M} = e^{m_i − M} l_i and Σ_{j∈i} e^{s_j − M} v_j = e^{m_i − M} l_i o_i. Hence

        out = Σ_i w_i o_i / Σ_i w_i,   w_i = e^{m_i − M} l_i,   M = max_i m_i.

    M = max m_i makes every e^{m_i − M} ≤ 1 (no overflow) and gives the split holding the largest score
    l_i ≥ 1, so Σ w_i ≥ 1 (no 0/0) whenever the row has a valid slot. A split with no valid slot has l_i = 0 and
    m_i = −inf: w_i = 0, and its o_i = 0, so it adds exactly nothing. A row with no valid slot at all is 0/0 = NaN,
    as the full softmax over nothing (`sparse_decode_ref`) is."""
    if o.dim() != 4 or m.shape != o.shape[:3] or l.shape != m.shape:
        raise ValueError(f"need o [R, S, G, D] and m, l [R, S, G]; got {tuple(o.shape)}, {tuple(m.shape)}, {tuple(l.shape)}")
    M = m.amax(1, keepdim=True)
    w = (m - torch.where(M == -math.inf, 0.0, M)).exp() * l                       # [R, S, G]
    out = (w[..., None] * o).sum(1) / w.sum(1)[..., None]
    return out if dtype is None else out.to(dtype)

def sparse_decode_split_ref(q, k, v, idx, ok, n_splits: int, scale=None):
    "`sparse_decode_ref` computed the split-K way: per-split summaries, then `combine_splits_ref` (same result up to rounding)."
    return combine_splits_ref(*sparse_decode_partials_ref(q, k, v, idx, ok, n_splits, scale), dtype=q.dtype)

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

# --- split selection: the threshold search with each scan spread over (row × chunk) programs ------------------------

def select_plan(R: int, T: int, n_chunks: int | None = None, n_sm: int = SM_COUNT, waves: int = 4,
                min_keys: int = 256) -> tuple[int, int]:
    """(n_chunks, keys per chunk) for the split selection of R rows of T scores; every chunk holds at least one key.

    `n_chunks=None` picks the count from the shapes alone (no device read, so no host sync, a fixed grid): one chunk
    (the one-program-a-row `select_kernel`) when the rows alone fill the SMs (R >= n_sm), else enough chunks that
    R · n_chunks reaches `waves · n_sm` programs per scan, no chunk shorter than `min_keys` keys and every chunk a
    whole number of `min_keys` (the kernel's tile of keys). E.g. batch 1, 8 KV heads, T = 131072 on 132 SMs: 64 chunks
    of 2048 keys, 512 programs per scan instead of 8; T = 4096: 16 chunks of 256. An explicit `n_chunks` is rounded
    the same way (chunks of ceil(T / n_chunks) keys rounded up to `min_keys`; chunks that would be empty dropped).
    Not timed on a GPU."""
    for n, x in dict(R=R, T=T, n_sm=n_sm, waves=waves, min_keys=min_keys).items():
        if isinstance(x, bool) or not isinstance(x, int) or x < (0 if n in ('R', 'T') else 1):
            raise ValueError(f"{n} must be an int >= {0 if n in ('R', 'T') else 1}, got {x!r}")
    if n_chunks is not None and (isinstance(n_chunks, bool) or not isinstance(n_chunks, int) or n_chunks < 1):
        raise ValueError(f"n_chunks must be None (chosen from the shapes) or an int >= 1, got {n_chunks!r}")
    if T == 0: return 1, 0
    if n_chunks is None:
        if R >= n_sm: return 1, T
        n_chunks = -(-waves * n_sm // max(R, 1))
    ch = -(-max(-(-T // n_chunks), 1) // min_keys) * min_keys
    return -(-T // ch), ch

def select_split_ref(logits, pos, p: float | None, k_min: int, k_max: int, n_sink: int = 0, n_recent: int = 0,
                     n_chunks: int = 1, n_bins: int = 64, max_passes: int = 8, min_keys: int = 1):
    """The split selection's algorithm in torch (the Triton path's `select_triton(..., n_chunks=...)`): the same
    outputs as `select_ref` — (idx [R, k_max] in key order, ok, budget) — reached the way the kernels reach them.

    1. Statistics: per chunk, the max logit, the lowest finite non-forced logit, the forced and the finite non-forced
       counts (and, for top-p, Σexp(x − M) over valid and over forced keys with M the row max), merged over chunks.
    2. Up to `max_passes` histogram passes over [lo, hi] (first [min, max]) in `n_bins` equal-width bins: each chunk's
       (count, mass) histogram, summed over chunks; the pass keeps the keys in bins above the highest bin b* where
       taking every key in bins >= b* first meets the budget (count jmax, or mass ≥ target with count ≥ jmin), and
       narrows [lo, hi] to b*; it stops once that bin holds <= 1 key or cannot narrow (ties).
    3. The boundary bin adds r keys; the keys above hi are kept, then in-bin keys in key order (ties: lower key first).
       Per chunk, exclusive prefix sums over the chunks before it of the above-hi, in-bin and selected counts give the
       chunk's ranks and its first output slot, so every chunk writes its keys in key order where the row's would go.
    Top-k output equals the one-program kernel's exactly (only counts, minima and maxima decide it); top-p equals it
    up to the summation order of the fp32 masses (a key whose inclusion hinges on the last bit of a sum may differ)."""
    check_select_inputs(logits, pos, p, k_min, k_max, n_sink, n_recent)
    R, T = logits.shape
    dev = logits.device
    C, ch = select_plan(R, T, n_chunks, min_keys=min_keys)
    pad = C * ch - T
    t = torch.arange(C * ch, device=dev)[None]
    x = torch.nn.functional.pad(logits.float(), (0, pad), value=-math.inf)
    P = pos[:, None]
    v = (t <= P) & (t < T)
    fo = v & ((t < n_sink) | (t > P - n_recent))
    xv = x.masked_fill(~v, -math.inf)
    rest = v & ~fo & (xv > -math.inf)
    view = lambda a: a.view(R, C, ch)
    mx = view(xv).amax(-1).amax(-1)
    mn = view(xv.masked_fill(~rest, math.inf)).amin(-1).amin(-1)
    nf, nn = view(fo).sum(-1).sum(-1), view(rest).sum(-1).sum(-1)
    cap = torch.minimum(nf + nn, torch.full_like(nf, k_max))
    jmax = (cap - nf).clamp(min=0)
    if p is not None:
        e_all = torch.where(v, (xv - mx[:, None]).exp(), 0.0)
        z = view(e_all).sum(-1).sum(-1); fz = view(torch.where(fo, e_all, 0.0)).sum(-1).sum(-1)
        jmin = torch.minimum((k_min - nf).clamp(min=0), jmax)
        target = (p - 1e-6) * z - fz
    else:
        jmin, target = jmax, torch.zeros(R, device=dev)
    lo, hi = mn.clone(), mx.clone()
    taken, tmass, cb = torch.zeros_like(nf), torch.zeros(R, device=dev), nn.clone()
    trivial = (jmax == 0) | ((target <= 0) & (jmin == 0))
    done = trivial.clone()
    bins = torch.arange(n_bins, device=dev)
    cand = v & ~fo
    for _ in range(max_passes):
        w = (hi - lo) / n_bins
        inr = cand & (xv >= lo[:, None]) & (xv <= hi[:, None])
        xs = torch.where(inr, xv, lo[:, None])
        wsafe = torch.where(w > 0, w, torch.ones_like(w))
        b = ((xs - lo[:, None]) / wsafe[:, None]).to(torch.int32).clamp(0, n_bins - 1)
        b = torch.where((w > 0)[:, None], b, n_bins - 1)
        hit = inr[:, :, None] & (b[:, :, None] == bins)                           # [R, C·ch, NB]
        cnt = hit.view(R, C, ch, n_bins).sum(2).sum(1).to(torch.int64)
        ms = torch.where(hit, (xs - mx[:, None]).exp()[:, :, None], 0.0).view(R, C, ch, n_bins).sum(2).sum(1)
        ccnt = cnt.flip(-1).cumsum(-1).flip(-1) + taken[:, None]
        cms = ms.flip(-1).cumsum(-1).flip(-1) + tmass[:, None]
        sat = (ccnt >= jmax[:, None]) | ((cms >= target[:, None]) & (ccnt >= jmin[:, None]))
        bstar = torch.where(sat, bins, -1).amax(-1).clamp(min=0)
        above = bins > bstar[:, None]
        ntaken = taken + torch.where(above, cnt, 0).sum(-1)
        ntmass = tmass + torch.where(above, ms, 0.0).sum(-1)
        ncb = cnt.gather(1, bstar[:, None])[:, 0]
        nlo = lo + bstar.float() * w
        nhi = torch.where(bstar == n_bins - 1, hi, lo + (bstar + 1).float() * w)
        ndone = (ncb <= 1) | (w <= 0) | (nhi <= nlo)
        go = ~done
        taken, tmass, cb = torch.where(go, ntaken, taken), torch.where(go, ntmass, tmass), torch.where(go, ncb, cb)
        lo, hi, done = torch.where(go, nlo, lo), torch.where(go, nhi, hi), torch.where(go, ndone, done)
    e = (lo - mx).exp()
    r = (jmin - taken).clamp(min=0)
    if p is not None:
        need = torch.ceil((target - tmass) / torch.where(e > 0, e, torch.full_like(e, 1e-30))).clamp(-2**31, 2**31 - 1).to(torch.int64)
        r = torch.maximum(r, torch.where(tmass < target, need, 0))
    r = torch.minimum(torch.minimum(r.clamp(min=1), cb), jmax - taken)
    jstar = torch.where(trivial, 0, taken + r)
    g = cand & (xv > hi[:, None])
    ib = cand & (xv >= lo[:, None]) & (xv <= hi[:, None])
    g_c, b_c = view(g).sum(-1), view(ib).sum(-1)                                  # [R, C] chunk counts
    keep_gt = torch.minimum(g_c.sum(-1), jstar)
    need_in = (jstar - keep_gt).clamp(min=0)
    big0, tie0 = g_c.cumsum(-1) - g_c, b_c.cumsum(-1) - b_c                       # exclusive prefix over chunks
    gi = view(g).cumsum(-1) + big0[..., None]                                     # global ranks, chunk by chunk
    ti = view(ib).cumsum(-1) + tie0[..., None]
    sel = view(fo) | (view(g) & (gi <= keep_gt[:, None, None])) | (view(ib) & (ti <= need_in[:, None, None]))
    sel = sel.reshape(R, C * ch)[:, :T]
    total = sel.sum(-1).clamp(max=k_max)
    tt = torch.arange(T, device=dev)[None]
    idx = torch.where(sel, tt, T).sort(-1).values[:, :k_max]
    if idx.shape[1] < k_max: idx = torch.cat([idx, idx.new_full((R, k_max - idx.shape[1]), T)], 1)
    ok = idx < T
    return idx.masked_fill(~ok, 0), ok, total
