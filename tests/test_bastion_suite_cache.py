"""BASTION's decoding-suite rows are measured once per key and read back after (`cached_suite`, through `core.cache`): the same key
reads the stored rows and says so, any other key (another seed, another code fingerprint) measures again, and the state the record
reads from the adaptive drafters (tree sizes, confidences, acceptance calibration, the fitted latency) survives the round trip."""
import numpy as np
import pytest
import torch
from lmpapers.core.models import model_config, build_model
from lmpapers.specdec.block_diffusion import BlockDiffusionDrafter, init_from_target
from lmpapers.bastion.trees import BastionDrafter, RooflineLatency
from lmpapers.bastion.experiment import cached_suite, code_fingerprint, suite_state, restore_suite_state


def test_rows_are_measured_once_per_key_and_say_where_they_came_from(tmp_path):
    calls = []
    run = lambda: calls.append(1) or dict(rows=[dict(method='ar', wall=0.25, exact=True)])
    key = dict(seed=0, code=code_fingerprint())
    a, src_a = cached_suite('main', key, run, root=tmp_path)
    b, src_b = cached_suite('main', key, run, root=tmp_path)
    assert len(calls) == 1 and a == b and src_a.startswith('measured in this run') and src_b.startswith('cached (measured ')
    cached_suite('main', key | dict(seed=1), run, root=tmp_path)
    cached_suite('main', key | dict(code='0' * 16), run, root=tmp_path)      # the decoding code changed: measured again
    cached_suite('membound', key, run, root=tmp_path)                          # another suite under the same key
    assert len(calls) == 4


def test_the_adaptive_drafters_state_survives_the_round_trip():
    tgt = build_model(model_config(vocab_size=8, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                   num_key_value_heads=1, head_dim=16, initializer_range=0.2), seed=0).eval()
    blk = BlockDiffusionDrafter(init_from_target(build_model(tgt.config, seed=4), 1), mask_token_id=7, block=3)
    prof = {(n, L): [1e-3 * (1 + 0.1 * n + 0.01 * L)] for n in (1, 4, 16) for L in (32, 128)}
    new = lambda: {'b': (BastionDrafter(blk, RooflineLatency(prof, context=32)), 'block')}
    m = new(); dr = m['b'][0]
    for i in range(12):
        tree = dr.draft(torch.tensor([1, 5, 2, 3][: 1 + i % 4]))
        dr.feedback(min(1, tree.n), tree, 1e-3 * (2 + tree.n))
    state = suite_state(m)
    back = restore_suite_state(new(), state)['b'][0]
    assert back.sizes == dr.sizes and np.allclose(back.confidence, dr.confidence)
    assert np.allclose(back.acceptance.scale, dr.acceptance.scale) and back.latency.knee == dr.latency.knee
    assert np.allclose(back.latency.curve(40), dr.latency.curve(40))
    with pytest.raises(ValueError, match='did not build'): restore_suite_state({}, state)
