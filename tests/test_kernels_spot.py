"SpotAttention Triton kernels against their torch references (interpreter on CPU), plus references against lmpapers.spot."
import pytest, torch
from lmpapers.kernels import triton_available
from lmpapers.kernels.spot import mxfp4_score, topk_mask, sparse_decode, mxfp4_score_ref, topk_mask_ref, sparse_decode_ref

DEV = 'cuda' if torch.cuda.is_available() else 'cpu'

def _fused():
    if not triton_available(): pytest.skip('triton is not installed')
    from lmpapers.kernels.spot import fused
    if DEV == 'cpu' and not fused.is_interpreted(): pytest.skip('CPU run without TRITON_INTERPRET=1')
    return fused

def _mx(R, T, D, seed=0):
    from lmpapers.spot.quant import quantize
    g = torch.Generator().manual_seed(seed)
    keys = torch.randn(R, T, D, generator=g) * 3
    qt = quantize(keys, 'mxfp4')
    return torch.randn(R, D, generator=g), qt

def test_score_ref_matches_quant_module():
    from lmpapers.spot.quant import dequantize
    q, qt = _mx(3, 37, 64)
    ref = (dequantize(qt) @ q[:, :, None]).squeeze(-1) * 0.5
    torch.testing.assert_close(mxfp4_score_ref(q, qt.codes, qt.scales, 0.5), ref, rtol=1e-5, atol=1e-5)

@pytest.mark.parametrize('R,T,D', [(1, 1, 32), (3, 37, 32), (2, 257, 64)])
def test_score_kernel(R, T, D):
    fused = _fused()
    q, qt = _mx(R, T, D)
    out = fused.mxfp4_score_triton(q.to(DEV), qt.codes.to(DEV), qt.scales.to(DEV), 0.25)
    torch.testing.assert_close(out.cpu(), mxfp4_score_ref(q, qt.codes, qt.scales, 0.25), rtol=1e-5, atol=1e-4)

def test_score_kernel_several_blocks():
    fused = _fused()
    q, qt = _mx(2, 101, 32, seed=3)
    out = fused.mxfp4_score_triton(q.to(DEV), qt.codes.to(DEV), qt.scales.to(DEV), block_t=32)
    torch.testing.assert_close(out.cpu(), mxfp4_score_ref(q, qt.codes, qt.scales), rtol=1e-5, atol=1e-4)

@pytest.mark.parametrize('R,T,k', [(1, 1, 1), (3, 37, 5), (2, 1000, 64), (2, 300, 300)])
def test_topk_kernel(R, T, k):
    fused = _fused()
    s = torch.randn(R, T, generator=torch.Generator().manual_seed(T))
    s[0, :3] = 1e30; s[-1, -2:] = -1e30                             # forced / excluded keys as the wrapper writes them
    m = fused.topk_mask_triton(s.to(DEV), k).cpu()
    torch.testing.assert_close(m, topk_mask_ref(s, k))
    assert (m.sum(-1) == k).all()

def test_topk_ties_and_blocks():
    fused = _fused()
    s = torch.tensor([[1.0, 2.0, 2.0, 0.5, 2.0, -1.0, 3.0]])
    torch.testing.assert_close(fused.topk_mask_triton(s.to(DEV), 2, block_t=4).cpu(), topk_mask_ref(s, 2))
    assert topk_mask_ref(s, 2).sum() == 4                             # ties at the k-th value are kept

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
    out = fused.sparse_decode_triton(*[a.to(DEV) for a in args], block_k=16)
    torch.testing.assert_close(out.cpu(), sparse_decode_ref(*args), rtol=1e-4, atol=1e-5)

def test_sparse_decode_bf16():
    fused = _fused()
    args = _dec(2, 2, 64, 32, 20, dtype=torch.bfloat16)
    out = fused.sparse_decode_triton(*[a.to(DEV) for a in args])
    torch.testing.assert_close(out.float().cpu(), sparse_decode_ref(*args).float(), rtol=2e-2, atol=2e-2)

def test_sparse_decode_ref_matches_module():
    from lmpapers.spot.selection import sparse_attention
    q, k, v, idx, ok = _dec(2, 2, 50, 32, 10)
    ref = sparse_attention(q.view(1, 2, 2, 32).transpose(1, 2).reshape(1, 4, 1, 32).view(1, 4, 1, 32) if False else
                           q.reshape(1, 4, 1, 32), k[None], v[None], idx[None, :, None], ok[None, :, None])
    torch.testing.assert_close(sparse_decode_ref(q, k, v, idx, ok).reshape(1, 4, 1, 32), ref, rtol=1e-5, atol=1e-6)

def test_dispatch_and_checks():
    q, k, v, idx, ok = _dec(1, 2, 10, 32, 4)
    torch.testing.assert_close(sparse_decode(q, k, v, idx, ok, backend='torch'), sparse_decode_ref(q, k, v, idx, ok))
    with pytest.raises(ValueError, match='out of range'): sparse_decode_ref(q, k, v, idx + 100, ok)
    with pytest.raises(ValueError, match='k must be'): topk_mask(torch.randn(2, 5), 6)
    with pytest.raises(ValueError, match='NaN'): topk_mask(torch.full((1, 4), float('nan')), 1)
    with pytest.raises(ValueError, match='multiple of 32'): mxfp4_score(torch.randn(1, 16), torch.zeros(1, 2, 8, dtype=torch.uint8), torch.zeros(1, 2, 0, dtype=torch.uint8))
    with pytest.raises(ValueError, match='unknown backend'): topk_mask(torch.randn(1, 3), 1, backend='cuda')
