"The fused Triton cross-entropy against its torch reference: outputs, gradients, dispatch and input checks."
import os, subprocess, sys, textwrap
import pytest, torch
import torch.nn.functional as F
from lmpapers.kernels import cross_entropy, cross_entropy_ref, triton_available, use_triton

DEV = 'cuda' if torch.cuda.is_available() else 'cpu'
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.bfloat16: dict(rtol=2e-2, atol=1e-3),
       torch.float16: dict(rtol=4e-3, atol=1e-4)}

def _fused():
    "The kernel module, or a skip when this machine can run neither compiled nor interpreted Triton."
    if not triton_available(): pytest.skip('triton is not installed')
    from lmpapers.kernels.cross_entropy import fused
    if DEV == 'cpu' and not fused.is_interpreted(): pytest.skip('CPU run without TRITON_INTERPRET=1')
    return fused

def _batch(N, V, dtype=torch.float32, scale=3.0, ignore=(), seed=0):
    "Logits [N, V] (rounded to `dtype`, requiring grad) and labels [N] with `ignore` rows set to -100."
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(N, V, generator=g) * scale).to(dtype).to(DEV).requires_grad_()
    y = torch.randint(0, V, (N,), generator=g)
    for i in ignore: y[i] = -100
    return x, y.to(DEV)

def _both(x, y, reduction, fn, seed=1):
    "Loss and d(loss·w)/d(logits) for a random upstream gradient w."
    loss = fn(x, y, reduction=reduction)
    w = torch.randn(loss.shape, generator=torch.Generator().manual_seed(seed)).to(DEV)
    grad, = torch.autograd.grad(loss, x, w)
    return loss, grad

# --- the reference itself -------------------------------------------------------------------

@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
def test_reference_matches_torch(reduction):
    x, y = _batch(6, 50, torch.float64, ignore=(2,))
    ours = cross_entropy_ref(x, y, reduction=reduction)
    theirs = F.cross_entropy(x, y, reduction=reduction)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(torch.autograd.grad(ours.sum(), x)[0], torch.autograd.grad(theirs.sum(), x)[0])

def test_reference_all_ignored_mean_is_zero():
    x, y = _batch(3, 10, ignore=(0, 1, 2))
    loss = cross_entropy_ref(x, y)
    assert loss.item() == 0.0 and torch.isnan(F.cross_entropy(x, y)).item()  # torch's own mean is NaN here
    assert torch.autograd.grad(loss, x)[0].abs().max().item() == 0.0

# --- kernel vs reference ----------------------------------------------------------------------

SHAPES = [(1, 5), (3, 97), (17, 1000), (3, 4099)]

@pytest.mark.parametrize('dtype', [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize('N,V', SHAPES)
@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
def test_kernel_matches_reference(N, V, dtype, reduction):
    fused = _fused()
    x, y = _batch(N, V, dtype, ignore=(1,) if N > 2 else ())
    loss_k, grad_k = _both(x, y, reduction, fused.cross_entropy_triton)
    loss_r, grad_r = _both(x, y, reduction, cross_entropy_ref)
    assert loss_k.dtype == torch.float32 and grad_k.dtype == dtype and grad_k.shape == x.shape
    torch.testing.assert_close(loss_k, loss_r, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(grad_k, grad_r, **TOL[dtype])

@pytest.mark.parametrize('N,V,block_v', [(3, 97, 16), (4, 4099, 1024), (2, 1000, 128)])
def test_online_logsumexp_across_blocks(N, V, block_v):
    "Many BLOCK_V chunks, a last partial chunk, large logits, and the row maximum in the last chunk."
    fused = _fused()
    x, y = _batch(N, V, scale=30.0, ignore=(0,))
    with torch.no_grad(): x[1, -1] = 500.0; x[-1, 0] = 500.0
    for reduction in ('none', 'mean'):
        loss_k, grad_k = _both(x, y, reduction, lambda *a, **k: fused.cross_entropy_triton(*a, **k, block_v=block_v))
        loss_r, grad_r = _both(x, y, reduction, cross_entropy_ref)
        assert torch.isfinite(loss_k).all() and torch.isfinite(grad_k).all()
        torch.testing.assert_close(loss_k, loss_r, rtol=1e-5, atol=1e-4)
        torch.testing.assert_close(grad_k, grad_r, rtol=1e-5, atol=1e-6)

def test_ignored_rows_give_zero_loss_and_grad():
    fused = _fused()
    x, y = _batch(5, 97, ignore=(0, 3))
    loss = fused.cross_entropy_triton(x, y, reduction='none')
    grad, = torch.autograd.grad(loss.sum(), x)
    assert loss[[0, 3]].abs().max().item() == 0 and grad[[0, 3]].abs().max().item() == 0
    assert (loss[[1, 2, 4]] > 0).all()

@pytest.mark.parametrize('reduction', ['mean', 'sum'])
def test_all_ignored_batch_is_zero_not_nan(reduction):
    fused = _fused()
    x, y = _batch(3, 97, ignore=(0, 1, 2))
    loss = fused.cross_entropy_triton(x, y, reduction=reduction)
    grad, = torch.autograd.grad(loss, x)
    assert loss.item() == 0.0 and grad.abs().max().item() == 0.0

def test_custom_ignore_index_and_mean_over_valid_rows():
    fused = _fused()
    x, y = _batch(4, 33)
    y[2] = 7
    loss = fused.cross_entropy_triton(x, y, ignore_index=7)
    per_row = cross_entropy_ref(x, y, ignore_index=7, reduction='none')
    torch.testing.assert_close(loss, per_row.sum() / 3)

def test_strided_logits_and_no_grad():
    fused = _fused()
    big, y = _batch(3, 200)
    x = big[:, 10:107]                      # row stride 200, V = 97
    y = y.clamp(max=96)
    torch.testing.assert_close(fused.cross_entropy_triton(x, y), cross_entropy_ref(x, y))
    xt = big.detach().t().contiguous().t()  # column-major: stride(1) != 1
    torch.testing.assert_close(fused.cross_entropy_triton(xt, y, reduction='none'),
                               cross_entropy_ref(xt, y, reduction='none'))
    with torch.no_grad():
        loss = fused.cross_entropy_triton(big, y)
        torch.testing.assert_close(loss, cross_entropy_ref(big, y))
    assert loss.grad_fn is None

def test_backward_twice_is_a_clear_error():
    fused = _fused()
    x, y = _batch(2, 16)
    loss = fused.cross_entropy_triton(x, y)
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match='only once'): loss.backward()

def test_triton_backend_goes_through_the_kernel():
    _fused()
    x, y = _batch(3, 97, ignore=(2,))
    loss_k, grad_k = _both(x, y, 'mean', lambda *a, **k: cross_entropy(*a, **k, backend='triton'))
    assert loss_k.grad_fn is not None and 'CrossEntropyFunction' in type(loss_k.grad_fn).__name__
    loss_r, grad_r = _both(x, y, 'mean', cross_entropy_ref)
    torch.testing.assert_close(loss_k, loss_r); torch.testing.assert_close(grad_k, grad_r)

# --- dispatch -----------------------------------------------------------------------------------

@pytest.mark.parametrize('reduction', ['mean', 'sum', 'none'])
def test_auto_on_cpu_is_exactly_the_reference(reduction):
    x, y = _batch(5, 97, torch.bfloat16, ignore=(1,))
    x, y = x.detach().cpu().requires_grad_(), y.cpu()
    assert not use_triton('auto', x.device)
    loss_a, grad_a = _both(x.detach().requires_grad_(), y, reduction, lambda *a, **k: cross_entropy(*a, **k, backend='auto'))
    loss_r, grad_r = _both(x.detach().requires_grad_(), y, reduction, cross_entropy_ref)
    assert torch.equal(loss_a, loss_r) and torch.equal(grad_a, grad_r)
    assert torch.equal(cross_entropy(x, y, reduction=reduction, backend='torch'), loss_r)

def test_without_interpreter_import_is_light_and_triton_backend_explains():
    "A fresh process without TRITON_INTERPRET: importing does not import triton; backend='triton' on CPU says why it fails."
    if not triton_available(): pytest.skip('triton is not installed')
    code = textwrap.dedent('''
        import sys, torch
        import lmpapers.kernels as K
        print('triton imported:', 'triton' in sys.modules)
        try: K.cross_entropy(torch.randn(2, 5), torch.tensor([0, 4]), backend='triton'); print('no error')
        except RuntimeError as e: print('error:', e)
        ''')
    env = {k: v for k, v in os.environ.items() if k != 'TRITON_INTERPRET'}
    out = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, timeout=120)
    assert 'triton imported: False' in out.stdout, out.stderr
    if torch.cuda.is_available(): return
    assert 'error:' in out.stdout and 'TRITON_INTERPRET=1' in out.stdout, out.stdout + out.stderr

# --- input validation -----------------------------------------------------------------------------

L, Y = torch.randn(3, 5), torch.tensor([0, 4, -100])
BAD = [
    (lambda f: f(L[None], Y), ValueError, 'must be 2-D'),
    (lambda f: f(L.long(), Y), TypeError, 'floating dtype'),
    (lambda f: f(L, Y.int()), TypeError, 'must be int64'),
    (lambda f: f(L, Y[:, None]), ValueError, 'labels must be 1-D'),
    (lambda f: f(L, Y[:2]), ValueError, 'must match'),
    (lambda f: f(L, torch.tensor([0, 5, 1])), ValueError, r'labels\[1\] = 5 is outside \[0, 5\)'),
    (lambda f: f(L, torch.tensor([0, -1, 1])), ValueError, 'not ignore_index=-100'),
    (lambda f: f(L, Y, reduction='avg'), ValueError, "unknown reduction 'avg'"),
    (lambda f: f(L, Y.to('meta')), ValueError, 'same device'),
    (lambda f: f(L.numpy(), Y), TypeError, 'torch.Tensor'),
    (lambda f: f(L[:, :0], Y), ValueError, 'empty vocabulary'),
]

@pytest.mark.parametrize('call,err,msg', BAD)
@pytest.mark.parametrize('backend', ['torch', 'triton'])
def test_input_errors(call, err, msg, backend):
    if backend == 'triton': _fused()
    fn = lambda *a, **k: cross_entropy(*a, **k, backend=backend)
    with pytest.raises(err, match=msg): call(fn)

def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'cuda'"): cross_entropy(L, Y, backend='cuda')
