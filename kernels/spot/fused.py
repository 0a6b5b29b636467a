"""Triton kernels for SpotAttention decode, on the integration's layouts: scores straight from the packed 4-bit
cache `PackedKeys` holds (INT4 / MXFP4 / NVFP4 codes + block scales), an adaptive top-p / top-k selection that
returns indices, and sparse GQA decode attention over those indices with an online softmax.

This module imports `triton` at import time; `lmpapers.kernels.spot` imports it lazily.
"""
from __future__ import annotations
import torch, triton
import triton.language as tl
from .naive import FMT_BLOCK, SM_COUNT, check_packed_inputs, check_select_inputs, check_decode_inputs, split_plan, select_plan

__all__ = ['packed_score_triton', 'select_triton', 'sparse_decode_triton', 'is_interpreted']

FMT_ID = {'int4': 0, 'mxfp4': 1, 'nvfp4': 2}

@triton.jit
def _tile_keys(s_ptr, row, T, t, pos, n_sink, n_recent, SKIP_FORCED: tl.constexpr):
    """(valid, forced, scores) of one tile of keys `t` of a row: valid keys are causal and in range, forced ones the
    sinks and the recent window; scores in fp32, -inf where not loaded (not valid, or forced when SKIP_FORCED)."""
    v = (t <= pos) & (t < T)
    fo = v & ((t < n_sink) | (t > pos - n_recent))
    load = v
    if SKIP_FORCED: load = v & ~fo
    x = tl.load(s_ptr + row * T + t, mask=load, other=float('-inf')).to(tl.float32)
    return v, fo, x

@triton.jit
def _e2m1(c):
    m = c & 7
    e = m >> 1
    mant = (m & 1).to(tl.float32)
    mag = tl.where(e == 0, 0.5 * mant, (1.0 + 0.5 * mant) * tl.where(e == 1, 1.0, tl.where(e == 2, 2.0, 4.0)))
    return tl.where((c & 8) > 0, -mag, mag)

@triton.jit
def _e4m3(b):
    "fp32 value of FP8 E4M3 bits (uint8 → int32 arithmetic; no NaN codes are produced by the encoder)."
    b = b.to(tl.int32)
    e = (b >> 3) & 15
    m = (b & 7).to(tl.float32)
    mag = tl.where(e == 0, m * 0.001953125, (1.0 + m * 0.125) * tl.exp2((e - 7).to(tl.float32)))   # subnormal: m · 2^-9
    return tl.where((b & 128) > 0, -mag, mag)

@triton.jit
def packed_score_kernel(q_ptr, c_ptr, s_ptr, out_ptr, T, Tq, scale, tscale,
                        sq_r, sq_t, sc_r, sc_t, ss_r, ss_t,
                        HALF: tl.constexpr, HALF_P: tl.constexpr, BLK: tl.constexpr, FMT: tl.constexpr, BLOCK_T: tl.constexpr):
    r = tl.program_id(0).to(tl.int64)        # (batch, head) row
    i = tl.program_id(1).to(tl.int64)        # query of the row
    t = tl.program_id(2) * BLOCK_T + tl.arange(0, BLOCK_T)
    j = tl.arange(0, HALF_P)                 # byte of a key: elements 2j (low nibble) and 2j + 1 (high)
    tm = t < T
    jm = j < HALF
    m2 = tm[:, None] & jm[None, :]
    c = tl.load(c_ptr + r * sc_r + t[:, None] * sc_t + j[None, :], mask=m2, other=136).to(tl.int32)   # 136: int4 zeros
    sb = tl.load(s_ptr + r * ss_r + t[:, None] * ss_t + (2 * j // BLK)[None, :], mask=m2, other=0)
    if FMT == 0:
        f = sb.to(tl.float32)
        lo = ((c & 15) - 8).to(tl.float32); hi = ((c >> 4) - 8).to(tl.float32)
    elif FMT == 1:
        f = tl.exp2(sb.to(tl.float32) - 127.0)
        lo = _e2m1(c & 15); hi = _e2m1(c >> 4)
    else:
        f = _e4m3(sb) * tscale
        lo = _e2m1(c & 15); hi = _e2m1(c >> 4)
    qe = tl.load(q_ptr + r * sq_r + i * sq_t + 2 * j, mask=jm, other=0.0).to(tl.float32)
    qo = tl.load(q_ptr + r * sq_r + i * sq_t + 2 * j + 1, mask=jm, other=0.0).to(tl.float32)
    acc = (lo * qe[None, :] + hi * qo[None, :]) * f
    tl.store(out_ptr + (r * Tq + i) * T + t, tl.sum(acc, axis=1) * scale, mask=tm)

@triton.jit
def _row_stats(s_ptr, row, T, pos, n_sink, n_recent, BLOCK_T: tl.constexpr):
    "(max logit, Σexp, forced Σexp, forced count, lowest finite non-forced logit, finite non-forced count) over the row's valid keys."
    offs = tl.arange(0, BLOCK_T)
    mx = tl.full([], float('-inf'), tl.float32)
    mn = tl.full([], float('inf'), tl.float32)
    for start in range(0, T, BLOCK_T):
        t = start + offs
        v = t <= pos
        x = tl.load(s_ptr + row * T + t, mask=v & (t < T), other=float('-inf')).to(tl.float32)
        mx = tl.maximum(mx, tl.max(x, axis=0))
    z = tl.zeros([], tl.float32); fz = tl.zeros([], tl.float32)
    nf = tl.zeros([], tl.int32); nn = tl.zeros([], tl.int32)
    for start in range(0, T, BLOCK_T):
        t = start + offs
        v, fo, x = _tile_keys(s_ptr, row, T, t, pos, n_sink, n_recent, False)
        e = tl.where(v, tl.exp(x - mx), 0.0)
        z += tl.sum(e, axis=0); fz += tl.sum(tl.where(fo, e, 0.0), axis=0)
        nf += tl.sum(fo.to(tl.int32), axis=0)
        rest = v & ~fo & (x > float('-inf'))          # keys scored -inf are never selected
        nn += tl.sum(rest.to(tl.int32), axis=0)
        mn = tl.minimum(mn, tl.min(tl.where(rest, x, float('inf')), axis=0))
    return mx, z, fz, nf, mn, nn

@triton.jit
def _hist_tile(s_ptr, row, T, t, pos, n_sink, n_recent, lo, hi, w, mx, bins, NB: tl.constexpr, WITH_MASS: tl.constexpr):
    """One tile of keys `t` of a row: the (count, mass e^(x - mx)) histogram of its valid, non-forced scores in [lo, hi]
    over NB bins of width w (all in the top bin when w is 0); the mass is zeros unless WITH_MASS (top-k never reads it)."""
    v = (t <= pos) & (t < T) & ~((t < n_sink) | (t > pos - n_recent))
    x = tl.load(s_ptr + row * T + t, mask=v, other=float('-inf')).to(tl.float32)
    inr = v & (x >= lo) & (x <= hi)
    xs = tl.where(inr, x, lo)
    b = tl.minimum(tl.maximum(((xs - lo) / tl.where(w > 0, w, 1.0)).to(tl.int32), 0), NB - 1)
    b = tl.where(w > 0, b, NB - 1)
    hit = inr[:, None] & (b[:, None] == bins[None, :])
    cnt = tl.sum(hit.to(tl.int32), axis=0)
    if WITH_MASS: ms = tl.sum(tl.where(hit, tl.exp(xs - mx)[:, None], 0.0), axis=0)
    else: ms = tl.zeros([NB], tl.float32)
    return cnt, ms

@triton.jit
def _pass_step(cnt, ms, lo, hi, w, taken, tmass, target, jmin, jmax, bins, NB: tl.constexpr):
    """One step of the threshold search from a pass's histogram over [lo, hi]: the bin b* where taking every key in
    bins >= b* first meets the budget; the keys and mass above it join `taken`/`tmass`; the next range is b*'s bin;
    done when that bin holds at most one key or no width is left. Returns (taken, tmass, keys in b*, lo, hi, done)."""
    ccnt = tl.cumsum(cnt, axis=0, reverse=True) + taken            # taking every key in bins >= b
    cms = tl.cumsum(ms, axis=0, reverse=True) + tmass
    sat = (ccnt >= jmax) | ((cms >= target) & (ccnt >= jmin))
    bstar = tl.maximum(tl.max(tl.where(sat, bins, -1), axis=0), 0)
    above = bins > bstar
    taken += tl.sum(tl.where(above, cnt, 0), axis=0)
    tmass += tl.sum(tl.where(above, ms, 0.0), axis=0)
    cb = tl.sum(tl.where(bins == bstar, cnt, 0), axis=0)
    nlo = lo + bstar.to(tl.float32) * w
    nhi = tl.where(bstar == NB - 1, hi, lo + (bstar + 1).to(tl.float32) * w)
    return taken, tmass, cb, nlo, nhi, (cb <= 1) | (w <= 0) | (nhi <= nlo)

@triton.jit
def select_kernel(s_ptr, pos_ptr, idx_ptr, ok_ptr, cnt_ptr, T, p, k_min, k_max, n_sink, n_recent,
                  USE_P: tl.constexpr, NB: tl.constexpr, MAX_PASSES: tl.constexpr, BLOCK_T: tl.constexpr):
    """Grid (R,): one program per (batch · KV head) row, looping over the row's T scores in BLOCK_T tiles — so at batch 1
    with 8 KV heads, 8 programs, each reading its row 4 + (histogram passes) times; the GPU is mostly idle here.

    It is not split across programs (unlike `sparse_decode_split_kernel`) because every step needs the whole row:
    the row statistics (max, Σexp; these alone would combine like the split softmax), each histogram pass (a
    reduction over the row that decides the next pass's range: one more launch, or a grid-wide barrier, per pass),
    and the final write, whose output slots are a prefix count in key order over the whole row (a scan across
    chunks). The split path (`select_triton` with n_chunks > 1; `select` defaults to n_chunks=1 until it is timed on a GPU) chains exactly that: a
    partial-then-reduce launch pair per step (statistics, each pass, the counts, the scan), then the write; this kernel
    is what n_chunks=1 launches."""
    row = tl.program_id(0).to(tl.int64)
    pos = tl.load(pos_ptr + row)
    offs = tl.arange(0, BLOCK_T)
    bins = tl.arange(0, NB)
    mx, z, fz, nf, mn, nn = _row_stats(s_ptr, row, T, pos, n_sink, n_recent, BLOCK_T)
    n_valid = nf + nn
    cap = tl.minimum(n_valid, k_max)
    # non-forced keys to take: j in [jmin, jmax]; with p, the fewest whose mass (with the forced keys') reaches p
    jmax = tl.maximum(cap - nf, 0)
    if USE_P:
        jmin = tl.minimum(tl.maximum(k_min - nf, 0), jmax)
        target = (p - 1e-6) * z - fz                     # unnormalised mass the non-forced keys must add
    else:
        jmin = jmax
        target = 0.0
    # adaptive search for the threshold: histograms of (count, mass) over [lo, hi], descending into the bin where
    # the running total first satisfies the budget; stops as soon as that bin holds one key or no width is left.
    # Invariant: the `taken` keys above the bin do not satisfy the budget, they and every key in [lo, hi] do.
    lo = mn; hi = mx
    taken = tl.zeros([], tl.int32); tmass = tl.zeros([], tl.float32); cb = nn
    trivial = (jmax == 0) | ((target <= 0.0) & (jmin == 0))
    done = trivial
    for _ in range(MAX_PASSES):
        if done == 0:
            w = (hi - lo) / NB
            cnt = tl.zeros([NB], tl.int32); ms = tl.zeros([NB], tl.float32)
            for start in range(0, T, BLOCK_T):
                c_, m_ = _hist_tile(s_ptr, row, T, start + offs, pos, n_sink, n_recent, lo, hi, w, mx, bins, NB, True)
                cnt += c_; ms += m_
            taken, tmass, cb, lo, hi, done = _pass_step(cnt, ms, lo, hi, w, taken, tmass, target, jmin, jmax, bins, NB)
    # keys the bin must add: enough for the count floor and (ties or one key: exactly) for the mass
    e = tl.exp(lo - mx)
    r = tl.maximum(jmin - taken, 0)
    if USE_P:
        r = tl.maximum(r, tl.where(tmass < target, tl.ceil((target - tmass) / tl.where(e > 0, e, 1e-30)).to(tl.int32), 0))
    r = tl.maximum(r, 1)
    r = tl.minimum(tl.minimum(r, cb), jmax - taken)
    jstar = tl.where(trivial, 0, taken + r)
    # keys above hi are kept, then the in-bin ones in key order (counted by comparison, as they are written)
    gt = tl.zeros([], tl.int32)
    for start in range(0, T, BLOCK_T):
        t = start + offs
        v = (t <= pos) & (t < T) & ~((t < n_sink) | (t > pos - n_recent))
        x = tl.load(s_ptr + row * T + t, mask=v, other=float('-inf')).to(tl.float32)
        gt += tl.sum((v & (x > hi)).to(tl.int32), axis=0)
    keep_gt = tl.minimum(gt, jstar)
    need_in = tl.maximum(jstar - keep_gt, 0)
    # write: forced keys and the chosen others, in key order, at most k_max
    out = tl.zeros([], tl.int32); tie = tl.zeros([], tl.int32); big = tl.zeros([], tl.int32)
    for start in range(0, T, BLOCK_T):
        t = start + offs
        v, fo, x = _tile_keys(s_ptr, row, T, t, pos, n_sink, n_recent, True)
        g = v & ~fo & (x > hi)
        gi = big + tl.cumsum(g.to(tl.int32), axis=0)                   # rank among keys above hi
        ib = v & ~fo & (x >= lo) & (x <= hi)
        ti = tie + tl.cumsum(ib.to(tl.int32), axis=0)                  # rank among in-bin keys
        sel = fo | (g & (gi <= keep_gt)) | (ib & (ti <= need_in))
        slot = out + tl.cumsum(sel.to(tl.int32), axis=0) - 1
        wm = sel & (slot < k_max)
        tl.store(idx_ptr + row * k_max + slot, t.to(tl.int64), mask=wm)
        out += tl.sum(sel.to(tl.int32), axis=0)
        tie += tl.sum(ib.to(tl.int32), axis=0); big += tl.sum(g.to(tl.int32), axis=0)
    total = tl.minimum(out, k_max)
    k = tl.arange(0, BLOCK_T)
    for start in range(0, k_max, BLOCK_T):
        kk = start + k
        tl.store(ok_ptr + row * k_max + kk, (kk < total).to(tl.int8), mask=kk < k_max)
    tl.store(cnt_ptr + row, total.to(tl.int64))

# --- split selection: the same threshold search, each pass's scan spread over (row × chunk) programs -------------------
# A row's T scores are cut into C chunks of CH keys (CH a multiple of BLOCK_T). Every scan of the row that
# `select_kernel` makes in one program becomes one (R, C) launch writing per-chunk partials, and every decision that
# needs the whole row becomes one (R,) launch that reduces those partials in chunk order and updates a per-row state:
#   stats (R, C) → [mass (R, C), top-p only] → init (R,) → MAX_PASSES × (hist (R, C) → pass (R,)) → count (R, C)
#   → offsets (R,) → write (R, C).
# Passes after the row's search is done are launched anyway (their programs return at once): the launch sequence is a
# function of the shapes, with no host read. Float state [R, 8]: mx, lo, hi, target, tmass, z, fz, -; int state [R, 8]:
# nf, nn, jmin, jmax, taken, cb, done, trivial.

@triton.jit
def select_stats_kernel(s_ptr, pos_ptr, pf_ptr, pi_ptr, T, CH, C, n_sink, n_recent, BLOCK_T: tl.constexpr):
    "Chunk partials of `_row_stats` without the sums: (max logit, lowest finite non-forced logit) and (forced count, finite non-forced count)."
    row = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1).to(tl.int64)
    pos = tl.load(pos_ptr + row)
    offs = tl.arange(0, BLOCK_T)
    mx = tl.full([], float('-inf'), tl.float32); mn = tl.full([], float('inf'), tl.float32)
    nf = tl.zeros([], tl.int32); nn = tl.zeros([], tl.int32)
    for start in range(c * CH, c * CH + CH, BLOCK_T):
        t = start + offs
        v, fo, x = _tile_keys(s_ptr, row, T, t, pos, n_sink, n_recent, False)
        rest = v & ~fo & (x > float('-inf'))
        mx = tl.maximum(mx, tl.max(x, axis=0))
        mn = tl.minimum(mn, tl.min(tl.where(rest, x, float('inf')), axis=0))
        nf += tl.sum(fo.to(tl.int32), axis=0); nn += tl.sum(rest.to(tl.int32), axis=0)
    part = row * C + c
    tl.store(pf_ptr + part * 2, mx); tl.store(pf_ptr + part * 2 + 1, mn)
    tl.store(pi_ptr + part * 2, nf); tl.store(pi_ptr + part * 2 + 1, nn)

@triton.jit
def select_max_kernel(pf_ptr, sf_ptr, C, CB: tl.constexpr):
    "Row max of the chunk maxima (exact in any order), into the float state: the top-p mass pass needs it first."
    row = tl.program_id(0).to(tl.int64)
    ci = tl.arange(0, CB)
    mx = tl.full([], float('-inf'), tl.float32)
    for c0 in range(0, C, CB):
        cm = c0 + ci < C
        mx = tl.maximum(mx, tl.max(tl.load(pf_ptr + (row * C + c0 + ci) * 2, mask=cm, other=float('-inf')), axis=0))
    tl.store(sf_ptr + row * 8, mx)

@triton.jit
def select_mass_kernel(s_ptr, pos_ptr, sf_ptr, pm_ptr, T, CH, C, n_sink, n_recent, BLOCK_T: tl.constexpr):
    "Chunk partials (Σ exp(x − mx), forced Σ exp(x − mx)) over the valid keys, mx the row max (top-p only)."
    row = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1).to(tl.int64)
    pos = tl.load(pos_ptr + row)
    mx = tl.load(sf_ptr + row * 8)
    offs = tl.arange(0, BLOCK_T)
    z = tl.zeros([], tl.float32); fz = tl.zeros([], tl.float32)
    for start in range(c * CH, c * CH + CH, BLOCK_T):
        t = start + offs
        v, fo, x = _tile_keys(s_ptr, row, T, t, pos, n_sink, n_recent, False)
        e = tl.where(v, tl.exp(x - mx), 0.0)
        z += tl.sum(e, axis=0); fz += tl.sum(tl.where(fo, e, 0.0), axis=0)
    part = row * C + c
    tl.store(pm_ptr + part * 2, z); tl.store(pm_ptr + part * 2 + 1, fz)

@triton.jit
def select_init_kernel(pf_ptr, pi_ptr, pm_ptr, sf_ptr, si_ptr, C, p, k_min, k_max,
                       USE_P: tl.constexpr, CB: tl.constexpr):
    "Merges the chunk statistics in chunk order and sets up the search exactly as `select_kernel` does."
    row = tl.program_id(0).to(tl.int64)
    ci = tl.arange(0, CB)
    mx = tl.full([], float('-inf'), tl.float32); mn = tl.full([], float('inf'), tl.float32)
    nf = tl.zeros([], tl.int32); nn = tl.zeros([], tl.int32)
    z = tl.zeros([], tl.float32); fz = tl.zeros([], tl.float32)
    for c0 in range(0, C, CB):
        cm = c0 + ci < C
        part = row * C + c0 + ci
        mx = tl.maximum(mx, tl.max(tl.load(pf_ptr + part * 2, mask=cm, other=float('-inf')), axis=0))
        mn = tl.minimum(mn, tl.min(tl.load(pf_ptr + part * 2 + 1, mask=cm, other=float('inf')), axis=0))
        nf += tl.sum(tl.load(pi_ptr + part * 2, mask=cm, other=0), axis=0)
        nn += tl.sum(tl.load(pi_ptr + part * 2 + 1, mask=cm, other=0), axis=0)
        if USE_P:
            z += tl.sum(tl.load(pm_ptr + part * 2, mask=cm, other=0.0), axis=0)
            fz += tl.sum(tl.load(pm_ptr + part * 2 + 1, mask=cm, other=0.0), axis=0)
    n_valid = nf + nn
    cap = tl.minimum(n_valid, k_max)
    jmax = tl.maximum(cap - nf, 0)
    if USE_P:
        jmin = tl.minimum(tl.maximum(k_min - nf, 0), jmax)
        target = (p - 1e-6) * z - fz
    else:
        jmin = jmax
        target = 0.0
    trivial = ((jmax == 0) | ((target <= 0.0) & (jmin == 0))).to(tl.int32)
    fb = sf_ptr + row * 8; ib = si_ptr + row * 8
    tl.store(fb, mx); tl.store(fb + 1, mn); tl.store(fb + 2, mx); tl.store(fb + 3, target); tl.store(fb + 4, 0.0)
    tl.store(fb + 5, z); tl.store(fb + 6, fz)
    tl.store(ib, nf); tl.store(ib + 1, nn); tl.store(ib + 2, jmin); tl.store(ib + 3, jmax); tl.store(ib + 4, 0)
    tl.store(ib + 5, nn); tl.store(ib + 6, trivial); tl.store(ib + 7, trivial)

@triton.jit
def select_hist_kernel(s_ptr, pos_ptr, sf_ptr, si_ptr, hc_ptr, hm_ptr, T, CH, C, n_sink, n_recent,
                       USE_P: tl.constexpr, NB: tl.constexpr, BLOCK_T: tl.constexpr):
    "One chunk's (count, mass) histogram over the row's current [lo, hi] (the loop body of `select_kernel`'s pass); nothing once the row is done."
    row = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1).to(tl.int64)
    done = tl.load(si_ptr + row * 8 + 6)
    if done == 0:
        pos = tl.load(pos_ptr + row)
        mx = tl.load(sf_ptr + row * 8); lo = tl.load(sf_ptr + row * 8 + 1); hi = tl.load(sf_ptr + row * 8 + 2)
        offs = tl.arange(0, BLOCK_T)
        bins = tl.arange(0, NB)
        w = (hi - lo) / NB
        cnt = tl.zeros([NB], tl.int32); ms = tl.zeros([NB], tl.float32)
        for start in range(c * CH, c * CH + CH, BLOCK_T):
            c_, m_ = _hist_tile(s_ptr, row, T, start + offs, pos, n_sink, n_recent, lo, hi, w, mx, bins, NB, USE_P)
            cnt += c_; ms += m_
        part = row * C + c
        tl.store(hc_ptr + part * NB + bins, cnt)
        if USE_P:
            tl.store(hm_ptr + part * NB + bins, ms)

@triton.jit
def select_pass_kernel(sf_ptr, si_ptr, hc_ptr, hm_ptr, C, USE_P: tl.constexpr, NB: tl.constexpr, CB: tl.constexpr):
    "Sums the chunk histograms in chunk order and takes `select_kernel`'s step: the bin where the budget is first met, the keys above it, the next [lo, hi]."
    row = tl.program_id(0).to(tl.int64)
    done = tl.load(si_ptr + row * 8 + 6)
    if done == 0:
        bins = tl.arange(0, NB)
        ci = tl.arange(0, CB)
        cnt = tl.zeros([NB], tl.int32); ms = tl.zeros([NB], tl.float32)
        for c0 in range(0, C, CB):
            cm = (c0 + ci < C)[:, None]
            off = (row * C + c0 + ci)[:, None] * NB + bins[None, :]
            cnt += tl.sum(tl.load(hc_ptr + off, mask=cm, other=0), axis=0)
            if USE_P:
                ms += tl.sum(tl.load(hm_ptr + off, mask=cm, other=0.0), axis=0)
        fb = sf_ptr + row * 8; ib = si_ptr + row * 8
        lo = tl.load(fb + 1); hi = tl.load(fb + 2); target = tl.load(fb + 3); tmass = tl.load(fb + 4)
        jmin = tl.load(ib + 2); jmax = tl.load(ib + 3); taken = tl.load(ib + 4)
        w = (hi - lo) / NB
        taken, tmass, cb, nlo, nhi, ndone = _pass_step(cnt, ms, lo, hi, w, taken, tmass, target, jmin, jmax, bins, NB)
        ndone = ndone.to(tl.int32)
        tl.store(fb + 1, nlo); tl.store(fb + 2, nhi); tl.store(fb + 4, tmass)
        tl.store(ib + 4, taken); tl.store(ib + 5, cb); tl.store(ib + 6, ndone)

@triton.jit
def select_count_kernel(s_ptr, pos_ptr, sf_ptr, pc_ptr, T, CH, C, n_sink, n_recent, BLOCK_T: tl.constexpr):
    "Chunk counts of forced keys, of non-forced keys above hi and of those in [lo, hi] (the final [lo, hi])."
    row = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1).to(tl.int64)
    pos = tl.load(pos_ptr + row)
    lo = tl.load(sf_ptr + row * 8 + 1); hi = tl.load(sf_ptr + row * 8 + 2)
    offs = tl.arange(0, BLOCK_T)
    nf = tl.zeros([], tl.int32); gt = tl.zeros([], tl.int32); nb = tl.zeros([], tl.int32)
    for start in range(c * CH, c * CH + CH, BLOCK_T):
        t = start + offs
        v, fo, x = _tile_keys(s_ptr, row, T, t, pos, n_sink, n_recent, True)
        nf += tl.sum(fo.to(tl.int32), axis=0)
        gt += tl.sum((v & ~fo & (x > hi)).to(tl.int32), axis=0)
        nb += tl.sum((v & ~fo & (x >= lo) & (x <= hi)).to(tl.int32), axis=0)
    part = row * C + c
    tl.store(pc_ptr + part * 3, nf); tl.store(pc_ptr + part * 3 + 1, gt); tl.store(pc_ptr + part * 3 + 2, nb)

@triton.jit
def select_offsets_kernel(sf_ptr, si_ptr, pc_ptr, po_ptr, cnt_ptr, C, k_max, USE_P: tl.constexpr, CB: tl.constexpr):
    """`select_kernel`'s final count (keys the boundary bin adds, keys kept above hi, in-bin keys) and, per chunk, the
    exclusive prefix sums over the chunks before it: keys above hi, in-bin keys and selected keys (the chunk's first
    output slot). A chunk keeps its above-hi keys of global rank <= keep_gt and its in-bin keys of rank <= need_in."""
    row = tl.program_id(0).to(tl.int64)
    fb = sf_ptr + row * 8; ib = si_ptr + row * 8
    mx = tl.load(fb); lo = tl.load(fb + 1); target = tl.load(fb + 3); tmass = tl.load(fb + 4)
    jmin = tl.load(ib + 2); jmax = tl.load(ib + 3); taken = tl.load(ib + 4); cb = tl.load(ib + 5); trivial = tl.load(ib + 7)
    e = tl.exp(lo - mx)
    r = tl.maximum(jmin - taken, 0)
    if USE_P:
        r = tl.maximum(r, tl.where(tmass < target, tl.ceil((target - tmass) / tl.where(e > 0, e, 1e-30)).to(tl.int32), 0))
    r = tl.maximum(r, 1)
    r = tl.minimum(tl.minimum(r, cb), jmax - taken)
    jstar = tl.where(trivial != 0, 0, taken + r)
    ci = tl.arange(0, CB)
    gt = tl.zeros([], tl.int32)
    for c0 in range(0, C, CB):
        gt += tl.sum(tl.load(pc_ptr + (row * C + c0 + ci) * 3 + 1, mask=c0 + ci < C, other=0), axis=0)
    keep_gt = tl.minimum(gt, jstar)
    need_in = tl.maximum(jstar - keep_gt, 0)
    big = tl.zeros([], tl.int32); tie = tl.zeros([], tl.int32); out = tl.zeros([], tl.int32)
    for c0 in range(0, C, CB):
        cm = c0 + ci < C
        part = row * C + c0 + ci
        f_c = tl.load(pc_ptr + part * 3, mask=cm, other=0)
        g_c = tl.load(pc_ptr + part * 3 + 1, mask=cm, other=0)
        b_c = tl.load(pc_ptr + part * 3 + 2, mask=cm, other=0)
        big0 = big + tl.cumsum(g_c, axis=0) - g_c
        tie0 = tie + tl.cumsum(b_c, axis=0) - b_c
        sel = f_c + tl.minimum(tl.maximum(keep_gt - big0, 0), g_c) + tl.minimum(tl.maximum(need_in - tie0, 0), b_c)
        out0 = out + tl.cumsum(sel, axis=0) - sel
        tl.store(po_ptr + part * 3, big0, mask=cm); tl.store(po_ptr + part * 3 + 1, tie0, mask=cm)
        tl.store(po_ptr + part * 3 + 2, out0, mask=cm)
        big += tl.sum(g_c, axis=0); tie += tl.sum(b_c, axis=0); out += tl.sum(sel, axis=0)
    total = tl.minimum(out, k_max)
    tl.store(ib + 4, keep_gt); tl.store(ib + 5, need_in); tl.store(ib + 7, total)
    tl.store(cnt_ptr + row, total.to(tl.int64))

@triton.jit
def select_write_kernel(s_ptr, pos_ptr, sf_ptr, si_ptr, po_ptr, idx_ptr, ok_ptr, T, CH, C, k_max, OKC, n_sink, n_recent,
                        BLOCK_T: tl.constexpr):
    "The chunk's selected keys in key order from its output offset (`select_kernel`'s write loop, started at the chunk's prefix counts), and ok over slots [c·OKC, (c+1)·OKC)."
    row = tl.program_id(0).to(tl.int64)
    c = tl.program_id(1).to(tl.int64)
    pos = tl.load(pos_ptr + row)
    lo = tl.load(sf_ptr + row * 8 + 1); hi = tl.load(sf_ptr + row * 8 + 2)
    keep_gt = tl.load(si_ptr + row * 8 + 4); need_in = tl.load(si_ptr + row * 8 + 5); total = tl.load(si_ptr + row * 8 + 7)
    part = row * C + c
    big = tl.load(po_ptr + part * 3); tie = tl.load(po_ptr + part * 3 + 1); out = tl.load(po_ptr + part * 3 + 2)
    offs = tl.arange(0, BLOCK_T)
    for start in range(c * CH, c * CH + CH, BLOCK_T):
        t = start + offs
        v, fo, x = _tile_keys(s_ptr, row, T, t, pos, n_sink, n_recent, True)
        g = v & ~fo & (x > hi)
        gi = big + tl.cumsum(g.to(tl.int32), axis=0)
        ib = v & ~fo & (x >= lo) & (x <= hi)
        ti = tie + tl.cumsum(ib.to(tl.int32), axis=0)
        sel = fo | (g & (gi <= keep_gt)) | (ib & (ti <= need_in))
        slot = out + tl.cumsum(sel.to(tl.int32), axis=0) - 1
        tl.store(idx_ptr + row * k_max + slot, t.to(tl.int64), mask=sel & (slot < k_max))
        out += tl.sum(sel.to(tl.int32), axis=0)
        tie += tl.sum(ib.to(tl.int32), axis=0); big += tl.sum(g.to(tl.int32), axis=0)
    for start in range(c * OKC, c * OKC + OKC, BLOCK_T):
        kk = start + offs
        tl.store(ok_ptr + row * k_max + kk, (kk < total).to(tl.int8), mask=(kk < k_max) & (kk < c * OKC + OKC))

@triton.jit
def _attend_slots(q, k_ptr, v_ptr, idx_ptr, ok_ptr, row, lo, hi, K, D, scale, sk_r, sk_t, sv_r, sv_t,
                  G_P: tl.constexpr, D_P: tl.constexpr, BLOCK_K: tl.constexpr):
    "Online softmax of q [G_P, D_P] over the row's selected slots [lo, hi): (m [G_P], l [G_P], unnormalised acc [G_P, D_P]), fp32."
    di = tl.arange(0, D_P); ki = tl.arange(0, BLOCK_K)
    dm = di < D
    m_i = tl.full([G_P], float('-inf'), tl.float32)
    l_i = tl.zeros([G_P], tl.float32)
    acc = tl.zeros([G_P, D_P], tl.float32)
    for start in range(lo, hi, BLOCK_K):
        km = start + ki < hi
        ix = tl.load(idx_ptr + row * K + start + ki, mask=km, other=0)
        ok = tl.load(ok_ptr + row * K + start + ki, mask=km, other=0) != 0
        valid = km & ok
        kt = tl.load(k_ptr + row * sk_r + ix[:, None] * sk_t + di[None, :], mask=valid[:, None] & dm[None, :], other=0.0).to(tl.float32)
        vt = tl.load(v_ptr + row * sv_r + ix[:, None] * sv_t + di[None, :], mask=valid[:, None] & dm[None, :], other=0.0).to(tl.float32)
        s = tl.sum(q[:, None, :] * kt[None, :, :], axis=2) * scale                    # [G_P, BLOCK_K]
        s = tl.where(valid[None, :], s, float('-inf'))
        m_new = tl.maximum(m_i, tl.max(s, axis=1))
        m_safe = tl.where(m_new == float('-inf'), 0.0, m_new)                          # no valid slot yet: exp(−inf) = 0
        alpha = tl.exp(m_i - m_safe)
        pexp = tl.exp(s - m_safe[:, None])
        l_i = l_i * alpha + tl.sum(pexp, axis=1)
        acc = acc * alpha[:, None] + tl.sum(pexp[:, :, None] * vt[None, :, :], axis=1)
        m_i = m_new
    return m_i, l_i, acc

@triton.jit
def sparse_decode_kernel(q_ptr, k_ptr, v_ptr, idx_ptr, ok_ptr, out_ptr, K, G, D, scale,
                         sq_r, sq_g, sk_r, sk_t, sv_r, sv_t,
                         G_P: tl.constexpr, D_P: tl.constexpr, BLOCK_K: tl.constexpr):
    "One program per (batch · KV head) row over all K selected slots (the n_splits=1 path)."
    row = tl.program_id(0).to(tl.int64)
    gi = tl.arange(0, G_P); di = tl.arange(0, D_P)
    gm, dm = gi < G, di < D
    q = tl.load(q_ptr + row * sq_r + gi[:, None] * sq_g + di[None, :], mask=gm[:, None] & dm[None, :], other=0.0).to(tl.float32)
    m_i, l_i, acc = _attend_slots(q, k_ptr, v_ptr, idx_ptr, ok_ptr, row, 0, K, K, D, scale, sk_r, sk_t, sv_r, sv_t, G_P, D_P, BLOCK_K)
    out = acc / l_i[:, None]
    tl.store(out_ptr + row * G * D + gi[:, None] * D + di[None, :], out.to(out_ptr.dtype.element_ty), mask=gm[:, None] & dm[None, :])

@triton.jit
def sparse_decode_split_kernel(q_ptr, k_ptr, v_ptr, idx_ptr, ok_ptr, po_ptr, pm_ptr, pl_ptr, K, KPS, S, G, D, scale,
                               sq_r, sq_g, sk_r, sk_t, sv_r, sv_t,
                               G_P: tl.constexpr, D_P: tl.constexpr, BLOCK_K: tl.constexpr):
    """Program (row, split i) over slots [i·KPS, min((i+1)·KPS, K)): writes o_i = acc / l_i [G, D] (0 when the split has
    no valid slot), m_i and l_i [G], all fp32, for `split_combine_kernel`."""
    row = tl.program_id(0).to(tl.int64)
    sp = tl.program_id(1).to(tl.int64)
    gi = tl.arange(0, G_P); di = tl.arange(0, D_P)
    gm, dm = gi < G, di < D
    q = tl.load(q_ptr + row * sq_r + gi[:, None] * sq_g + di[None, :], mask=gm[:, None] & dm[None, :], other=0.0).to(tl.float32)
    lo = sp * KPS
    hi = tl.minimum(lo + KPS, K)
    m_i, l_i, acc = _attend_slots(q, k_ptr, v_ptr, idx_ptr, ok_ptr, row, lo, hi, K, D, scale, sk_r, sk_t, sv_r, sv_t, G_P, D_P, BLOCK_K)
    o = acc / tl.where(l_i > 0, l_i, 1.0)[:, None]
    part = row * S + sp
    tl.store(po_ptr + part * G * D + gi[:, None] * D + di[None, :], o, mask=gm[:, None] & dm[None, :])
    tl.store(pm_ptr + part * G + gi, m_i, mask=gm)
    tl.store(pl_ptr + part * G + gi, l_i, mask=gm)

@triton.jit
def split_combine_kernel(po_ptr, pm_ptr, pl_ptr, out_ptr, S, G, D, G_P: tl.constexpr, D_P: tl.constexpr):
    """One program a row: out = Σ_i w_i o_i / Σ_i w_i with w_i = e^{m_i − M} l_i, M = max_i m_i (derivation in
    `combine_splits_ref`), taken in one pass over the splits with a running max: when the max rises from M to M',
    the sums so far are rescaled by e^{M − M'}, so at the end they hold exactly the terms with M = max_i m_i."""
    row = tl.program_id(0).to(tl.int64)
    gi = tl.arange(0, G_P); di = tl.arange(0, D_P)
    gm, dm = gi < G, di < D
    M = tl.full([G_P], float('-inf'), tl.float32)
    den = tl.zeros([G_P], tl.float32)
    num = tl.zeros([G_P, D_P], tl.float32)
    for s in range(0, S):
        part = row * S + s
        m_s = tl.load(pm_ptr + part * G + gi, mask=gm, other=float('-inf'))
        l_s = tl.load(pl_ptr + part * G + gi, mask=gm, other=0.0)
        o_s = tl.load(po_ptr + part * G * D + gi[:, None] * D + di[None, :], mask=gm[:, None] & dm[None, :], other=0.0)
        M_new = tl.maximum(M, m_s)
        M_safe = tl.where(M_new == float('-inf'), 0.0, M_new)
        alpha = tl.exp(M - M_safe)
        w = tl.exp(m_s - M_safe) * l_s                                                 # 0 for a split with no valid slot
        num = num * alpha[:, None] + w[:, None] * o_s
        den = den * alpha + w
        M = M_new
    out = num / den[:, None]
    tl.store(out_ptr + row * G * D + gi[:, None] * D + di[None, :], out.to(out_ptr.dtype.element_ty), mask=gm[:, None] & dm[None, :])

def is_interpreted() -> bool:
    "True when the kernels were built by Triton's CPU interpreter (TRITON_INTERPRET=1 at import)."
    return type(packed_score_kernel).__name__ == 'InterpretedFunction'

def _check_device(t):
    if t.device.type != 'cuda' and not is_interpreted():
        raise RuntimeError("the SpotAttention Triton kernels need CUDA tensors, or TRITON_INTERPRET=1 set before triton is imported")

def _rows(x):
    "[B, H, T, C] with unit last stride as [B·H, T, C] without a copy when the (B, H) strides allow it."
    B, H, T, C = x.shape
    if x.stride(-1) != 1 or (B > 1 and x.stride(0) != H * x.stride(1)): x = x.contiguous()
    return x.reshape(B * H, T, C) if x.is_contiguous() else x.as_strided((B * H, T, C), (x.stride(1), x.stride(2), 1))

def packed_score_triton(q, codes, scales, fmt: str, scale: float = 1.0, tensor_scale: float = 1.0, block_t: int | None = None):
    "Triton version of `packed_score_ref`: [B, H, Tq, T] fp32, the codes read where they lie (e.g. a `PackedKeys` view)."
    check_packed_inputs(q, codes, scales, fmt); _check_device(q)
    B, H, Tq, D = q.shape
    T = codes.shape[2]
    out = torch.empty(B, H, Tq, T, dtype=torch.float32, device=q.device)
    if not (B and H and Tq and T): return out
    qr, cr = _rows(q), _rows(codes)
    sr = _rows(scales.view(torch.int16) if fmt == 'int4' else scales)
    if fmt == 'int4': sr = sr.view(torch.float16)
    bt = block_t or (min(1024, triton.next_power_of_2(T)) if is_interpreted() else 128)
    packed_score_kernel[(B * H, Tq, triton.cdiv(T, bt))](
        qr, cr, sr, out, T, Tq, float(scale), float(tensor_scale),
        qr.stride(0), qr.stride(1), cr.stride(0), cr.stride(1), sr.stride(0), sr.stride(1),
        HALF=D // 2, HALF_P=triton.next_power_of_2(D // 2), BLK=FMT_BLOCK[fmt], FMT=FMT_ID[fmt], BLOCK_T=bt)
    return out

def select_triton(logits, pos, p: float | None, k_min: int, k_max: int, n_sink: int = 0, n_recent: int = 0,
                  n_bins: int = 64, max_passes: int = 8, block_t: int | None = None, n_chunks: int | None = None,
                  n_sm: int | None = None, return_plan: bool = False):
    """Triton version of `select_ref`: (idx [R, k_max], ok, budget [R]); a few histogram passes, as many as the scores need.

    Split selection: each row's T scores are cut into chunks and every scan of the row (statistics, each histogram
    pass, the counts, the write) runs as one program per (row, chunk), with one program a row between scans merging
    the chunk partials in chunk order (the pass's decision, the prefix sums that place each chunk's keys) — the same
    threshold search and tie rule as `select_kernel` (algorithm: `select_split_ref`). `n_chunks=None` picks the count
    with `select_plan` from R, T and the device's SM count (`n_sm`; `SM_COUNT` off CUDA): a pure function of the
    shapes, so no host sync and a fixed sequence of launches (passes after a row's search ends return at once).
    `n_chunks=1` launches the one-program-a-row `select_kernel`, unchanged. Batch 1, 8 KV heads, T = 131072 on 132
    SMs: 64 chunks of 2048 keys, 512 programs per scan (before: 8). Top-k output equals `select_kernel`'s exactly;
    top-p equals it up to the summation order of the fp32 masses. Tested in the Triton interpreter only, not timed on
    a GPU. `return_plan=True` also returns (n_chunks, keys per chunk) as used."""
    check_select_inputs(logits, pos, p, k_min, k_max, n_sink, n_recent); _check_device(logits)
    R, T = logits.shape
    s = logits.float().contiguous()
    pos = pos.contiguous()
    dev = s.device
    idx = torch.zeros(R, k_max, dtype=torch.int64, device=dev)
    ok = torch.empty(R, k_max, dtype=torch.int8, device=dev)
    cnt = torch.empty(R, dtype=torch.int64, device=dev)
    bt = block_t or min(256, triton.next_power_of_2(max(T, 1)))          # [BLOCK_T, n_bins] one-hot tiles stay small
    if n_sm is None: n_sm = torch.cuda.get_device_properties(dev).multi_processor_count if dev.type == 'cuda' else SM_COUNT
    C, ch = select_plan(R, T, n_chunks, n_sm=n_sm, min_keys=bt if n_chunks is not None else max(256, bt))
    use_p, pf = p is not None, float(p if p is not None else 1.0)
    if C == 1 or R == 0:
        select_kernel[(R,)](s, pos, idx, ok, cnt, T, pf, k_min, k_max, n_sink, n_recent,
                            USE_P=use_p, NB=n_bins, MAX_PASSES=max_passes, BLOCK_T=bt)
        C = 1
    else:
        f32, i32 = dict(dtype=torch.float32, device=dev), dict(dtype=torch.int32, device=dev)
        sf, si = torch.empty(R, 8, **f32), torch.empty(R, 8, **i32)
        pfp, pip, pmp = torch.empty(R, C, 2, **f32), torch.empty(R, C, 2, **i32), torch.zeros(R, C, 2, **f32)
        hc, hm = torch.empty(R, C, n_bins, **i32), torch.empty(R, C, n_bins if use_p else 1, **f32)
        pc, po = torch.empty(R, C, 3, **i32), torch.empty(R, C, 3, **i32)
        cb = min(16, triton.next_power_of_2(C))
        geo = (T, ch, C, n_sink, n_recent)
        select_stats_kernel[(R, C)](s, pos, pfp, pip, *geo, BLOCK_T=bt)
        if use_p:
            select_max_kernel[(R,)](pfp, sf, C, CB=cb)
            select_mass_kernel[(R, C)](s, pos, sf, pmp, *geo, BLOCK_T=bt)
        select_init_kernel[(R,)](pfp, pip, pmp, sf, si, C, pf, k_min, k_max, USE_P=use_p, CB=cb)
        for _ in range(max_passes):
            select_hist_kernel[(R, C)](s, pos, sf, si, hc, hm, *geo, USE_P=use_p, NB=n_bins, BLOCK_T=bt)
            select_pass_kernel[(R,)](sf, si, hc, hm, C, USE_P=use_p, NB=n_bins, CB=cb)
        select_count_kernel[(R, C)](s, pos, sf, pc, *geo, BLOCK_T=bt)
        select_offsets_kernel[(R,)](sf, si, pc, po, cnt, C, k_max, USE_P=use_p, CB=cb)
        okc = -(-k_max // C)
        select_write_kernel[(R, C)](s, pos, sf, si, po, idx, ok, T, ch, C, k_max, okc, n_sink, n_recent, BLOCK_T=bt)
    out = (idx, ok.bool(), cnt)
    return (*out, (C, ch if C > 1 else T)) if return_plan else out

def sparse_decode_triton(q, k, v, idx, ok, scale=None, block_k: int | None = None, n_splits: int | None = None,
                         n_sm: int | None = None, return_plan: bool = False):
    """Triton version of `sparse_decode_ref`: q [R, G, D], k/v [R, T, D] (any row and token strides, unit last), idx/ok [R, K].

    Split-K (flash-decoding): each row's K selected slots are cut into `n_splits` chunks, one program per (row, chunk)
    writing the chunk's fp32 (o, m, l), and `split_combine_kernel` (one program a row) merges them — R·n_splits + R
    programs in two launches instead of R in one. `n_splits=None` picks the count with `split_plan` from R, K and the
    device's SM count (`n_sm`; `SM_COUNT` off CUDA) — a pure function of the shapes, so no host sync and a fixed grid
    for a CUDA graph. `n_splits=1` launches the one-program-a-row kernel, unchanged. E.g. batch 1, 8 KV heads,
    K = 2048 on 132 SMs: 64 splits of 32 slots, 512 + 8 programs (before: 8); on one H100 (bf16, G=4, D=128,
    CUDA-graph replay) 0.064 ms against 0.589 ms for one program a row. `return_plan=True` also returns
    (n_splits, slots per split) as used."""
    check_decode_inputs(q, k, v, idx, ok); _check_device(q)
    R, G, D = q.shape
    K = idx.shape[1]
    if n_sm is None: n_sm = torch.cuda.get_device_properties(q.device).multi_processor_count if q.device.type == 'cuda' else SM_COUNT
    S, kps = split_plan(R, K, n_splits, n_sm=n_sm)
    out = torch.empty(R, G, D, dtype=q.dtype, device=q.device)
    if q.stride(-1) != 1: q = q.contiguous()
    if k.stride(-1) != 1: k = k.contiguous()
    if v.stride(-1) != 1: v = v.contiguous()
    idx, ok8, sc = idx.contiguous(), ok.to(torch.int8).contiguous(), float(scale or D ** -0.5)
    strides = (q.stride(0), q.stride(1), k.stride(0), k.stride(1), v.stride(0), v.stride(1))
    G_P, D_P = triton.next_power_of_2(G), triton.next_power_of_2(D)
    if S == 1:
        bk = block_k or min(1024 if is_interpreted() else 64, triton.next_power_of_2(max(K, 1)))
        sparse_decode_kernel[(R,)](q, k, v, idx, ok8, out, K, G, D, sc, *strides, G_P=G_P, D_P=D_P, BLOCK_K=bk)
    else:
        bk = block_k or min(1024 if is_interpreted() else 64, triton.next_power_of_2(kps))
        po = torch.empty(R, S, G, D, dtype=torch.float32, device=q.device)
        pm = torch.empty(R, S, G, dtype=torch.float32, device=q.device)
        pl = torch.empty(R, S, G, dtype=torch.float32, device=q.device)
        sparse_decode_split_kernel[(R, S)](q, k, v, idx, ok8, po, pm, pl, K, kps, S, G, D, sc, *strides, G_P=G_P, D_P=D_P, BLOCK_K=bk)
        split_combine_kernel[(R,)](po, pm, pl, out, S, G, D, G_P=G_P, D_P=D_P)
    return (out, (S, kps)) if return_plan else out
