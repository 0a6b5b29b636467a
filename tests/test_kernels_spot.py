"SpotAttention Triton kernels against their torch references (interpreter on CPU: fp32/fp16 only), the references against lmpapers.spot, and the integrated CUDA path run through the interpreter."
import pytest, torch
from lmpapers.kernels import triton_available
from lmpapers.kernels.spot import (packed_score, select, sparse_decode, packed_score_ref, select_ref, sparse_decode_ref,
                                   mxfp4_score_ref, topk_mask_ref, split_plan, sparse_decode_partials_ref, combine_splits_ref,
                                   sparse_decode_split_ref, select_plan)

DEV = 'cuda' if torch.cuda.is_available() else 'cpu'

def _fused():
    if not triton_available(): pytest.skip('triton is not installed')
    from lmpapers.kernels.spot import fused
    if DEV == 'cpu' and not fused.is_interpreted(): pytest.skip('CPU run without TRITON_INTERPRET=1')
    return fused

def _packed(fmt, B, H, T, D, seed=0, grow=5, dev='cpu'):
    "A `PackedKeys` cache built by appends (its codes are a strided view of a larger buffer) and its keys."
    from lmpapers.spot.quant import PackedKeys
    g = torch.Generator().manual_seed(seed)
    keys = (torch.randn(B, H, T, D, generator=g) * 3).to(dev)
    pk = PackedKeys(fmt, grow=grow).append(keys[:, :, :T // 2])
    for t in range(T // 2, T): pk.append(keys[:, :, t:t + 1])
    return pk, g

# --- scoring straight from the packed cache ---------------------------------------------------------------------------

@pytest.mark.parametrize('fmt', ['int4', 'mxfp4', 'nvfp4'])
def test_packed_score_ref_matches_quant_module(fmt):
    pk, g = _packed(fmt, 1, 2, 9, 32)
    q = torch.randn(1, 2, 3, 32, generator=g)
    torch.testing.assert_close(packed_score_ref(q, pk.codes, pk.scales, fmt, 0.5), (q @ pk.dequantize().transpose(-1, -2)) * 0.5)

@pytest.mark.parametrize('fmt,B,H,Tq,T,D', [('int4', 1, 1, 1, 1, 32), ('int4', 2, 3, 2, 37, 64), ('mxfp4', 1, 2, 3, 41, 32),
                                            ('nvfp4', 2, 1, 1, 23, 48), ('mxfp4', 1, 5, 1, 130, 96)])
def test_packed_score_kernel(fmt, B, H, Tq, T, D):
    fused = _fused()
    pk, g = _packed(fmt, B, H, T, D)
    q = torch.randn(B, H, Tq, D, generator=g)
    for dt in (torch.float32, torch.float16):
        out = fused.packed_score_triton(q.to(dt).to(DEV), pk.codes.to(DEV), pk.scales.to(DEV), fmt, 0.25, block_t=16)
        torch.testing.assert_close(out.cpu(), packed_score_ref(q.to(dt), pk.codes, pk.scales, fmt, 0.25), rtol=1e-5, atol=1e-4)

def test_packed_keys_dispatch_to_kernel():
    _fused()
    pk, g = _packed('int4', 1, 2, 40, 32, dev=DEV)
    q = torch.randn(1, 2, 1, 32, generator=g).to(DEV)
    torch.testing.assert_close(pk.scores(q, backend='triton'), pk.scores(q, backend='torch'), rtol=1e-5, atol=1e-4)

# --- adaptive top-p / top-k selection, indices out --------------------------------------------------------------------

def _same_sets(a, b):
    (i1, o1, b1), (i2, o2, b2) = a, b
    assert torch.equal(b1.cpu(), b2.cpu()), (b1, b2)
    for r in range(len(b1)): assert set(i1[r][o1[r]].tolist()) == set(i2[r].cpu()[o2[r].cpu()].tolist())

@pytest.mark.parametrize('R,T,p,k_min,k_max,n_sink,n_recent', [
    (1, 1, 0.9, 1, 4, 0, 0), (3, 37, 0.9, 4, 16, 2, 3), (2, 300, 0.5, 1, 64, 0, 0), (2, 300, None, 1, 50, 4, 8),
    (4, 1000, 0.8, 8, 600, 4, 16), (2, 50, 1.0, 1, 100, 2, 2), (2, 50, 0.9, 1, 8, 2, 20)])
def test_select_kernel(R, T, p, k_min, k_max, n_sink, n_recent):
    fused = _fused()
    g = torch.Generator().manual_seed(T + R)
    s = torch.randn(R, T, generator=g) * 3
    pos = torch.randint(T // 2, T, (R,), generator=g)
    ref = select_ref(s, pos, p, k_min, k_max, n_sink, n_recent)
    _same_sets(ref, fused.select_triton(s.to(DEV), pos.to(DEV), p, k_min, k_max, n_sink, n_recent))
    idx, ok, _ = ref
    assert (idx[:, 1:] >= idx[:, :-1])[ok[:, 1:]].all()                 # key order

def test_select_ties_flat_and_peaked():
    fused = _fused()
    g = torch.Generator().manual_seed(1)
    s = torch.randn(3, 200, generator=g).round()                       # many ties: broken by key order, as the reference
    pos = torch.tensor([199, 150, 20])
    for p in (0.7, None): _same_sets(select_ref(s, pos, p, 2, 40, 1, 2), fused.select_triton(s.to(DEV), pos.to(DEV), p, 2, 40, 1, 2))
    flat = fused.select_triton(torch.zeros(1, 64, device=DEV), torch.tensor([63], device=DEV), 0.5, 1, 64)
    assert flat[2].item() == 32                                        # half the mass of 64 equal keys
    peaked = torch.randn(1, 3000, generator=g); peaked[0, 100] = 30.0
    i, o, b = fused.select_triton(peaked.to(DEV), torch.tensor([2999], device=DEV), 0.9, 1, 256, 4, 16)
    assert b.item() == 21 and 100 in i[0][o[0]].tolist()               # 4 sinks + 16 recent + the one key holding the mass

def test_select_ref_matches_module():
    "The reference keeps the same keys as `lmpapers.spot.selection` (top-p with forced keys, and top-k)."
    from lmpapers.spot.selection import select_top_p, select_topk
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 1, 80, generator=g) * 2
    pos = torch.tensor([79])
    idx, ok, b = select_top_p(logits.softmax(-1), 0.8, 4, 32, 2, 4, pos)
    ri, ro, rb = select_ref(logits.reshape(-1, 80), pos.repeat(6), 0.8, 4, 32, 2, 4)
    assert torch.equal(b.reshape(-1), rb)
    ti, to = select_topk(logits, 16, 2, 4, pos)
    ki, ko, _ = select_ref(logits.reshape(-1, 80), pos.repeat(6), None, 1, 16, 2, 4)
    for r in range(6):
        assert set(idx.reshape(6, -1)[r][ok.reshape(6, -1)[r]].tolist()) == set(ri[r][ro[r]].tolist())
        assert set(ti.reshape(6, -1)[r].tolist()) == set(ki[r][ko[r]].tolist())

def test_select_passes_adapt():
    "The search stops once its bin holds one key: four histogram passes suffice for 4096 random scores (not a fixed 32)."
    fused = _fused()
    s = torch.randn(1, 4096, generator=torch.Generator().manual_seed(3))
    a = fused.select_triton(s.to(DEV), torch.tensor([4095], device=DEV), 0.9, 1, 512, max_passes=4)
    _same_sets(select_ref(s, torch.tensor([4095]), 0.9, 1, 512), a)

# --- sparse decode over the selected keys -----------------------------------------------------------------------------

def _dec(R, G, T, D, K, seed=0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(R, G, D, generator=g).to(dtype), torch.randn(R, T, D, generator=g).to(dtype),
               torch.randn(R, T, D, generator=g).to(dtype))
    idx = torch.stack([torch.randperm(T, generator=g)[:K] for _ in range(R)])
    ok = torch.rand(R, K, generator=g) > 0.2; ok[:, 0] = True
    return q, k, v, idx, ok

@pytest.mark.parametrize('R,G,T,D,K', [(1, 1, 5, 32, 3), (3, 2, 100, 32, 17), (2, 3, 300, 24, 130)])
def test_sparse_decode_kernel(R, G, T, D, K):
    fused = _fused()
    args = _dec(R, G, T, D, K)
    for dt in (torch.float32, torch.float16):
        a = [x.to(dt) if x.is_floating_point() else x for x in args]
        out = fused.sparse_decode_triton(*[x.to(DEV) for x in a], block_k=16)
        torch.testing.assert_close(out.float().cpu(), sparse_decode_ref(*a).float(), rtol=2e-3 if dt == torch.float16 else 1e-4, atol=2e-3 if dt == torch.float16 else 1e-5)

def test_sparse_decode_strided_cache():
    "K/V as views of a longer cache (the integration's [B·Hkv, T, D] of a [B, Hkv, T_cap, D] buffer)."
    fused = _fused()
    q, k, v, idx, ok = _dec(2, 2, 40, 32, 9)
    big_k, big_v = torch.randn(2, 64, 32), torch.randn(2, 64, 32)
    big_k[:, :40], big_v[:, :40] = k, v
    out = fused.sparse_decode_triton(*(x.to(DEV) for x in (q, big_k[:, :40], big_v[:, :40], idx, ok)))
    torch.testing.assert_close(out.cpu(), sparse_decode_ref(q, k, v, idx, ok), rtol=1e-4, atol=1e-5)

# --- split-K: chunks of each row's selected keys in separate programs, then the log-sum-exp combine ---------------------

def _split_case(dtype):
    "K = 23 slots (not a multiple of any split size tried), rows with invalid slots, split-sized runs fully invalid, one empty row."
    q, k, v, idx, ok = _dec(4, 3, 60, 24, 23, seed=5, dtype=dtype)
    ok[1, 3:17] = False          # covers a whole split at 2 (12 slots: no), 7 (4 slots: yes, several) splits
    ok[2, :] = True; ok[2, -2:] = False
    ok[3, :] = False             # no valid slot at all: NaN, as the full softmax over nothing
    return q, k, v, idx, ok

def test_combine_derivation_numeric():
    "Σ_i e^{m_i − M} l_i o_i / Σ_i e^{m_i − M} l_i with M = max m_i equals the full softmax; an all-invalid split has w_i = 0 and o_i = 0."
    q, k, v, idx, ok = _split_case(torch.float32)
    o, m, l = sparse_decode_partials_ref(q, k, v, idx, ok, 7)
    assert o.shape == (4, 6, 3, 24) and split_plan(4, 23, 7) == (6, 4)          # ceil(23 / 4) = 6 non-empty splits of 4
    assert torch.isinf(m[1, 1]).all() and (l[1, 1] == 0).all() and (o[1, 1] == 0).all() and torch.isfinite(o[:3]).all()
    i = 0; M = m[i].amax(0)                                                      # by hand for row 0
    w = torch.exp(m[i] - M) * l[i]
    torch.testing.assert_close((w[..., None] * o[i]).sum(0) / w.sum(0)[:, None], sparse_decode_ref(q, k, v, idx, ok)[i], rtol=1e-5, atol=1e-6)
    full = sparse_decode_ref(q, k, v, idx, ok)
    for S in (1, 2, 7, 23, 40):
        torch.testing.assert_close(sparse_decode_split_ref(q, k, v, idx, ok, S), full, rtol=1e-5, atol=1e-6, equal_nan=True)
    assert torch.isnan(full[3]).all()
    with pytest.raises(ValueError, match='need o'): combine_splits_ref(o, m[:, :2], l)

def test_split_plan():
    "The split count comes from the shapes alone: rows x splits reaches 4 x 132 programs unless a split would hold < 32 slots or the rows fill the SMs."
    assert split_plan(8, 2048) == (64, 32)            # batch 1, 8 KV heads: 512 split programs (+ 8 combine) instead of 8
    assert split_plan(8, 65536) == (64, 1024)         # 512 programs; 66 wanted, rounded to whole 32-slot tiles
    assert split_plan(8, 32) == (1, 32) and split_plan(8, 33) == (2, 32)
    assert split_plan(32, 2048) == (16, 128)          # batch 4: 17 splits wanted, 121 slots rounded up to 128
    assert split_plan(132, 2048) == (1, 2048) and split_plan(131, 2048) == (5, 416)   # rows fill the SMs: one program a row, as before
    assert split_plan(4, 23, 7) == (6, 4) and split_plan(4, 23, 1) == (1, 23) and split_plan(2, 0) == (1, 0)
    for bad in (0, -1, 1.5, True): 
        with pytest.raises(ValueError, match='n_splits'): split_plan(4, 23, bad)
    with pytest.raises(ValueError, match='n_splits'): sparse_decode(*_dec(1, 1, 5, 32, 3), n_splits=0)

@pytest.mark.parametrize('dt', [torch.float32, torch.float16])
def test_sparse_decode_split_kernel(dt):
    "Split kernel + combine kernel vs the one-program-a-row kernel vs the references, at 1, 2 and 7 splits; n_splits=1 is the old kernel."
    fused = _fused()
    args = [x.to(DEV) for x in _split_case(dt)]
    tol = dict(rtol=2e-3, atol=2e-3) if dt == torch.float16 else dict(rtol=1e-5, atol=1e-5)
    ref = sparse_decode_ref(*[x.cpu() for x in args]).float()
    one = fused.sparse_decode_triton(*args, block_k=4, n_splits=1)
    for S, plan in ((1, (1, 23)), (2, (2, 12)), (7, (6, 4))):
        out, used = fused.sparse_decode_triton(*args, block_k=4, n_splits=S, return_plan=True)   # 4-slot tiles: a split of 12 is 3
        assert used == plan and out.dtype == dt
        torch.testing.assert_close(out.float().cpu(), ref, **tol, equal_nan=True)
        torch.testing.assert_close(out.float().cpu(), sparse_decode_split_ref(*[x.cpu() for x in args], S).float(), **tol, equal_nan=True)
        torch.testing.assert_close(out.float().cpu(), one.float().cpu(), **tol, equal_nan=True)
        assert torch.isfinite(out[:3]).all() and torch.isnan(out[3]).all()

def test_sparse_decode_split_auto_and_strided():
    "n_splits=None on the strided cache view (the integration's layout): 132 SMs split 130 slots in 5 of 32; n_sm=2 (the 2 rows fill the SMs) keeps one program a row."
    fused = _fused()
    q, k, v, idx, ok = _dec(2, 2, 200, 32, 130, seed=2)
    big_k, big_v = torch.randn(2, 256, 32), torch.randn(2, 256, 32)
    big_k[:, :200], big_v[:, :200] = k, v
    ref = sparse_decode_ref(q, k, v, idx, ok)
    q, k, v, idx, ok, big_k, big_v = (x.to(DEV) for x in (q, k, v, idx, ok, big_k, big_v))
    out, plan = fused.sparse_decode_triton(q, big_k[:, :200], big_v[:, :200], idx, ok, n_sm=132, return_plan=True)
    assert plan == (5, 32)                                                                  # the 32-slot floor decides
    torch.testing.assert_close(out.cpu(), ref, rtol=1e-5, atol=1e-5)
    one, plan = fused.sparse_decode_triton(q, big_k[:, :200], big_v[:, :200], idx, ok, n_sm=2, return_plan=True)
    assert plan == (1, 130)
    torch.testing.assert_close(one.cpu(), ref, rtol=1e-5, atol=1e-5)
    assert fused.sparse_decode_triton(q, k, v, idx[:, :32], ok[:, :32], return_plan=True)[1] == (1, 32)   # one floor's worth: one program a row
    torch.testing.assert_close(sparse_decode(q, k, v, idx, ok, backend='triton', n_splits=3), out, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sparse_decode(q, k, v, idx, ok, backend='torch', n_splits=3), out, rtol=1e-5, atol=1e-5)

def test_sparse_decode_ref_matches_module():
    from lmpapers.spot.selection import sparse_attention
    q, k, v, idx, ok = _dec(2, 2, 50, 32, 10)
    ref = sparse_attention(q.reshape(1, 4, 1, 32), k[None], v[None], idx[None, :, None], ok[None, :, None], backend='torch')
    torch.testing.assert_close(sparse_decode_ref(q, k, v, idx, ok).reshape(1, 4, 1, 32), ref, rtol=1e-5, atol=1e-6)

def test_dispatch_and_checks():
    q, k, v, idx, ok = _dec(1, 2, 10, 32, 4)
    torch.testing.assert_close(sparse_decode(q, k, v, idx, ok, backend='torch'), sparse_decode_ref(q, k, v, idx, ok))
    with pytest.raises(ValueError, match='out of range'): sparse_decode_ref(q, k, v, idx + 100, ok)
    with pytest.raises(ValueError, match='k_min <= k_max'): select(torch.randn(2, 5), torch.tensor([4, 4]), 0.9, 6, 5)
    with pytest.raises(ValueError, match='NaN'): select(torch.full((1, 4), float('nan')), torch.tensor([3]), None, 1, 2)
    with pytest.raises(ValueError, match='pos must be'): select(torch.randn(1, 4), torch.tensor([3.0]), None, 1, 2)
    with pytest.raises(ValueError, match='multiple of 32'): packed_score(torch.randn(1, 1, 1, 16), torch.zeros(1, 1, 2, 8, dtype=torch.uint8), torch.zeros(1, 1, 2, 0, dtype=torch.float16), 'int4')
    with pytest.raises(ValueError, match='unknown format'): packed_score_ref(torch.randn(1, 1, 1, 32), torch.zeros(1, 1, 2, 16, dtype=torch.uint8), torch.zeros(1, 1, 2, 1, dtype=torch.uint8), 'fp8')
    with pytest.raises(ValueError, match='unknown backend'): select(torch.randn(1, 3), torch.tensor([2]), None, 1, 1, backend='cuda')
    # the earlier MXFP4 score / top-K mask references stay as plain references
    assert topk_mask_ref(torch.tensor([[1.0, 2.0, 2.0, 0.5]]), 2).sum() == 2

# --- the integration's CUDA path, run on the interpreter ---------------------------------------------------------------

def test_generate_sparse_through_the_kernels():
    "Scoring, selection and sparse decode all through the kernels (backend='triton') give the torch path's tokens."
    _fused()
    from lmpapers.core.models import model_config, build_model
    from lmpapers.spot.selector import SpotSelector
    from lmpapers.spot.integration import SelectorScorer, TopK, TopP, generate_sparse
    m = build_model(model_config('tiny', 'qwen3', vocab_size=256, num_hidden_layers=2, initializer_range=0.2), seed=0).eval()
    sel = SpotSelector.for_model(m)
    with torch.no_grad(): sel.b.add_(0.3 * torch.randn(sel.b.shape, generator=torch.Generator().manual_seed(0)))
    ids = torch.randint(3, 256, (1, 24), generator=torch.Generator().manual_seed(1))
    for fmt, mk in (('int4', lambda sc, b: TopK(sc, k=8, n_sink=1, n_recent=2, backend=b)),
                    ('mxfp4', lambda sc, b: TopP(sc, p=0.6, k_min=4, k_max=12, n_sink=1, n_recent=2, backend=b))):
        outs = {}
        for b in ('torch', 'triton'):
            new, cfg = generate_sparse(m, ids, mk(SelectorScorer(sel, fmt, backend=b), b), max_new_tokens=3, backend=b)
            outs[b] = (new, [x[1] for x in cfg.budgets])
        assert torch.equal(outs['torch'][0], outs['triton'][0]), fmt
        assert outs['torch'][1] == pytest.approx(outs['triton'][1]), fmt

# --- split selection: every scan of a row spread over (row × chunk) programs ---------------------------------------------

def _split_select_case(kind, dt):
    "Odd shapes: T not a multiple of the chunk, a row with one or three valid keys, ties (fp16-rounded scores), k >= T, extreme p."
    g = torch.Generator().manual_seed(7)
    if kind == 'topk_ties':      # top-k, rounded scores (many ties at the threshold), sinks and recent window, a row of 1 valid key
        s, pos, args = (torch.randn(4, 90, generator=g) * 2).round(), torch.tensor([89, 0, 77, 2]), (None, 1, 30, 3, 5)
    elif kind == 'topk_all':     # k >= T: every valid key; a 1-key row
        s, pos, args = torch.randn(3, 45, generator=g), torch.tensor([44, 0, 30]), (None, 1, 64, 0, 0)
    elif kind == 'topp':         # top-p with k_min / k_max, sinks, recent window, a peaked row and a flat row
        s, pos = torch.randn(4, 90, generator=g) * 3, torch.tensor([89, 70, 2, 89])
        s[0, 60] = 25.0; s[3] = 0.0
        args = (0.8, 6, 40, 2, 4)
    elif kind == 'topp_extreme_low':   # p tiny: the count floor k_min decides
        s, pos, args = torch.randn(3, 70, generator=g) * 3, torch.tensor([69, 50, 35]), (1e-3, 9, 30, 1, 2)
    else:                        # p = 1 on scores of small range (every key's mass far above the 1e-6 slack): all valid keys up to k_max
        s, pos, args = torch.randn(3, 70, generator=g) * 0.1, torch.tensor([69, 50, 35]), (1.0, 1, 60, 1, 2)
    return s.to(dt), pos, args

@pytest.mark.parametrize('kind,dt', [('topk_ties', torch.float16), ('topk_all', torch.float32), ('topp', torch.float32),
                                     ('topp_extreme_low', torch.float32), ('topp_extreme_high', torch.float16)])
def test_select_split_kernel(kind, dt):
    "Split selection (3 chunks, the last one short) vs the one-program kernel (top-k: identical tensors; top-p: same sets and budgets), vs its torch reference and `select_ref`."
    fused = _fused()
    from lmpapers.kernels.spot.naive import select_split_ref
    s, pos, args = _split_select_case(kind, dt)
    R, T = s.shape
    one = fused.select_triton(s.to(DEV), pos.to(DEV), *args, n_chunks=1)
    ref = select_ref(s, pos, *args)
    _same_sets(ref, one)
    C, bt = (3, 32) if T > 64 else (3, 16)                                  # T = 90: chunks of 32, 32, 26; T = 45, 70: 16 and 32 keys
    *out, plan = fused.select_triton(s.to(DEV), pos.to(DEV), *args, block_t=bt, n_chunks=C, return_plan=True)
    assert plan == select_plan(R, T, C, min_keys=bt) and plan[0] > 1 and T % plan[1], plan
    if args[0] is None:                                                     # top-k: the same tensors as the one-program kernel
        for a, b in zip(out, one): assert torch.equal(a.cpu(), b.cpu())
    _same_sets(one, out); _same_sets(ref, out)
    _same_sets(select_split_ref(s, pos, *args, n_chunks=C, min_keys=bt), out)
    idx, ok, _ = (x.cpu() for x in out)
    assert (idx[:, 1:] > idx[:, :-1])[ok[:, 1:]].all() and not ok[:, 1:][~ok[:, :-1]].any()   # key order; ok a prefix
    assert (idx[~ok] == 0).all()
    if kind == 'topk_all': assert out[2].tolist() == [45, 1, 31]
    if kind == 'topp_extreme_low': assert out[2].tolist() == [9, 9, 9]
    if kind == 'topp_extreme_high': assert out[2].tolist() == [60, 51, 36]

def test_select_plan():
    "Chunks come from the shapes alone: rows × chunks reaches 4 × 132 programs per scan, chunks of whole 256-key tiles; one chunk once the rows fill the SMs."
    assert select_plan(8, 131072) == (64, 2048)        # batch 1, 8 KV heads: 512 programs a scan instead of 8
    assert select_plan(8, 4096) == (16, 256) and select_plan(8, 256) == (1, 256) and select_plan(8, 257) == (2, 256)
    assert select_plan(132, 131072) == (1, 131072) and select_plan(2, 0) == (1, 0)
    assert select_plan(3, 37, 3, min_keys=16) == (3, 16) and select_plan(3, 37, 5, min_keys=16) == (3, 16)   # empty chunks dropped
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match='n_chunks'): select_plan(4, 100, bad)
    with pytest.raises(ValueError, match='n_chunks'): select(torch.randn(1, 8), torch.tensor([7]), None, 1, 2, n_chunks=0)
