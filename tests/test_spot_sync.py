"A SpotAttention decode step reads nothing back to the host (no `.item()`, `bool(tensor)`, `int(tensor)`, `.tolist()`, `torch.equal`, ...: each one a device sync on CUDA); its content checks are ORed on the device and raised when the `sparse` context ends, or run at once with `validate=True`."
import contextlib, math
import pytest, torch
from lmpapers.core.models import model_config, build_model
from lmpapers.kernels import deferred_checks, raise_pending
from lmpapers.spot.selector import SpotSelector
from lmpapers.spot.selection import select_topk
from lmpapers.spot.integration import SelectorScorer, TopK, TopP, BudgetLog, sparse
from transformers import StaticCache
from lmpapers.spot.experiment import prefill

V = 256
SYNCS = ('item', 'tolist', '__bool__', '__int__', '__float__', '__index__', 'nonzero', 'cpu', 'numpy')

def tiny():
    return build_model(model_config('tiny', 'qwen3', vocab_size=V, initializer_range=0.2, num_hidden_layers=2), seed=0).eval()

def prompt(seed, T=24): return torch.randint(3, V, (1, T), generator=torch.Generator().manual_seed(seed))

@contextlib.contextmanager
def count_syncs():
    "Counts, by name, the calls that read a tensor on the host while inside."
    calls, saved, eq = {}, {n: getattr(torch.Tensor, n) for n in SYNCS}, torch.equal
    def wrap(n, f):
        def g(*a, **k):
            calls[n] = calls.get(n, 0) + 1
            return f(*a, **k)
        return g
    for n, f in saved.items(): setattr(torch.Tensor, n, wrap(n, f))
    torch.equal = wrap('torch.equal', eq)
    try: yield calls
    finally:
        for n, f in saved.items(): setattr(torch.Tensor, n, f)
        torch.equal = eq

@pytest.mark.parametrize('method,kind', [('topk_int4', 'dynamic'), ('topp', 'dynamic'), ('topk_int4', 'static')])
def test_decode_step_has_no_host_sync(method, kind):
    m = tiny()
    sel = SpotSelector.for_model(m)
    meth = TopK(SelectorScorer(sel, 'int4'), 6, 1, 2) if method == 'topk_int4' else TopP(SelectorScorer(sel), 0.9, 1, 8, 1, 2)
    ids = prompt(0)
    for validate in (False, True):
        if kind == 'dynamic': cache = prefill(m, ids)
        else:                                          # preallocated K/V, written in place; the selector's cache too
            cache = StaticCache(config=m.config, max_cache_len=ids.shape[1] + 2)
            with torch.no_grad(): m(ids[:, :-1], cache=cache, use_cache=True)
        counts = []
        with torch.no_grad(), sparse(m, meth, validate=validate) as cfg:
            x = ids[:, -1:]
            for step in range(2):                      # the first sparse step encodes the prompt's keys, the second continues
                with count_syncs() as calls: x = m(x, cache=cache, use_cache=True).logits[:, -1:].argmax(-1)
                counts.append(calls)
        if validate: assert all(sum(c.values()) > 0 for c in counts), counts     # the counter sees the checks validate=True runs
        else: assert counts == [{}, {}], counts
        assert cfg.budgets.calls == 2 * 2 and 1 <= cfg.budgets.mean() <= 8       # two layers a step, read after the steps

def test_deferred_checks_raise_when_the_context_ends():
    nan = torch.tensor([[[[0.0, math.nan, 1.0, 2.0]]]])
    with pytest.raises(ValueError, match='NaN'): select_topk(nan, 2, 0, 0)      # outside a decode step: at once
    pending = {}
    with deferred_checks(pending): select_topk(nan, 2, 0, 0)                      # inside: queued on the device
    with pytest.raises(ValueError, match='NaN'): raise_pending(pending)
    assert pending == {}
    # another text of the same length in the same context: caught at the end, or re-encoded with validate=True
    m = tiny()
    meth = TopK(SelectorScorer(SpotSelector.for_model(m)), 6, 1, 2)
    a, b = prompt(1, 24), prompt(2, 25)                  # b's step sees one key more than a's: lengths alone say "continues"
    def steps(validate):
        outs = []
        with torch.no_grad(), sparse(m, meth, validate=validate):
            for ids in (a, b): outs.append(m(ids[:, -1:], cache=prefill(m, ids), use_cache=True).logits)
        return outs
    with pytest.raises(RuntimeError, match='its own `sparse'): steps(False)
    with torch.no_grad(), sparse(m, meth): fresh = m(b[:, -1:], cache=prefill(m, b), use_cache=True).logits
    torch.testing.assert_close(steps(True)[1], fresh)

def test_budget_log_is_bounded_and_exact():
    log = BudgetLog(maxlen=3)
    for i in range(5): log.append(i % 2, torch.tensor(float(i)), 10 + i)
    assert len(log) == 3 and [t for _, _, t in log] == [12, 13, 14] and log.calls == 5
    assert log.mean() == 2.0                                                       # over all five calls
    with pytest.raises(ValueError, match='no sparse'): BudgetLog().mean()
    with pytest.raises(ValueError, match='maxlen'): BudgetLog(0)
