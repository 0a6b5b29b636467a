"The results contract of `lmpapers reproduce spot` (about two minutes with the cached models; the first run trains them); the small/full smoke run is in test_spot_smoke.py (its own file, so the two workers of `make test` can run them side by side)."
import json, math, time
import matplotlib, pytest, torch
from lmpapers.spot.experiment import reproduce, TINY, scale_config

def test_contract(tmp_path, monkeypatch):
    # the end-to-end decode at the paper's head shape is timed at its smallest length here (the full run times 4K-128K)
    # (the settings, which key the cached evaluations, stay TINY's: only this stage gets the shorter list)
    import lmpapers.spot.experiment as E
    e2e_long = E._e2e_long
    monkeypatch.setattr(E, '_e2e_long', lambda res, cfg, *a: e2e_long(res, dict(cfg, e2e_long_lengths=(4096,), e2e_long_rounds=1), *a))
    r = json.loads(reproduce(out=tmp_path).read_text())
    m = {x['name']: x for x in r['metrics']}
    assert m['e2e_dense_path_L4096']['value'] in ('sdpa', 'dense_rows', 'eager') and m['e2e_speedup_generate_sparse_L4096']['value'] > 0
    assert m['e2e_ms_per_token_spot_L4096']['value'] > 0 and 'e2e_crossover_tokens' in m and 'e2e_speedup_generate_sparse_tiny_model_L512' in m
    for M in TINY['multipliers']:           # the second, independently trained base (shipped) with its own selector
        for n in ('dense', 'oracle', 'qk_topk', 'spot_untrained_topk', 'spot_topk'):
            assert 0 <= m[f'passkey_acc_{n}_x{M}_base1']['value'] <= 1 and 0 <= m[f'retrieval_acc_{n}_x{M}_base1']['value'] <= 1
    g = m['acc_gain_trained_vs_untrained_selector_base1']
    assert g['interval'][0] <= g['value'] <= g['interval'][1]
    assert any('two independently trained retrieval bases' in n for n in r['notes'])
    for n in ('spot_topp', 'oracle_topp', 'twilight_quest', 'twilight_full_scan'):   # the top-p methods on base 1, p calibrated by the main study's path
        for M in TINY['multipliers']:
            for t in ('passkey', 'retrieval'):
                a = m[f'{t}_acc_{n}_x{M}_base1']
                assert 0 <= a['interval'][0] <= a['value'] <= a['interval'][1] <= 1 and a['n'] == TINY['n_prompts']
            assert 0 < m[f'top_p_{n}_x{M}_base1']['value'] < 1
        assert abs(m[f'mean_keys_{n}_base1']['value'] - TINY['budget']) <= 1.0, n        # matched budgets on base 1 too
        assert abs(m[f'distractor_mean_keys_{n}_base1']['value'] - TINY['budget']) <= 1.0, n
        for g in (f'acc_gap_vs_dense_{n}_base1', f'distractor_acc_gap_vs_dense_{n}_base1'):
            assert m[g]['interval'][0] <= m[g]['value'] <= m[g]['interval'][1], g
    assert any(n.startswith('top-p methods on two independently trained bases') and 'dual top-p (spot_topp): ' in n and all(f'spot_topp on base {b} ' in n for b in (0, 1)) for n in r['notes'])
    m = {x['name']: x for x in r['metrics']}
    methods = ('oracle', 'quest', 'twilight_quest', 'twilight_full_scan', 'dsa', 'seer', 'qk_topk', 'spot_untrained_topk', 'spot_topk', 'spot_topp')
    for M in TINY['multipliers']:
        for task in ('passkey', 'retrieval'):
            for n in ('dense',) + methods:
                lo, hi = m[f'{task}_acc_{n}_x{M}_ci']['value']
                assert 0 <= lo <= m[f'{task}_acc_{n}_x{M}']['value'] <= hi <= 1
            assert 0 <= m[f'{task}_acc_oracle_topp_x{M}']['value'] <= 1          # oracle top-p too (calibrated), on both bases
        assert 0 < m[f'top_p_oracle_topp_x{M}']['value'] < 1
    assert abs(m['mean_keys_oracle_topp']['value'] - TINY['budget']) <= 1.0 and 'acc_gap_vs_dense_oracle_topp' in m
    for n in methods:
        assert 0 <= m[f'mass_recall_{n}']['value'] <= 1 and f'mean_budget_tokens_{n}' in m
        assert abs(m[f'mean_keys_{n}']['value'] - TINY['budget']) <= 1.0, n        # matched budgets, top-p ones calibrated
        lo, hi = m[f'acc_gap_vs_dense_{n}_ci']['value']
        assert lo <= m[f'acc_gap_vs_dense_{n}']['value'] <= hi
    assert TINY['budget'] * 8 <= TINY['L_train']                                   # at most 1/8 of the shortest context
    for L in TINY['timing_lengths']:
        assert m[f'decode_speedup_vs_dense_L{L}']['value'] > 0 and m[f'dense_path_L{L}']['value'] in ('sdpa_gqa', 'sdpa_rows', 'matmul_rows')
        fastest = min(m[f'decode_ms_dense_{p}_L{L}']['value'] for p in ('sdpa_gqa', 'sdpa_rows', 'matmul_rows'))
        assert m[f"decode_ms_dense_{m[f'dense_path_L{L}']['value']}_L{L}"]['value'] == fastest          # the baseline is the fastest dense path
        for p in ('', '_vs_twilight_quest', '_vs_twilight_full_scan'): assert 0 < m[f'traffic_fraction{p}_L{L}']['value'] <= (1 if not p or (L >= 65536 and 'quest' in p) else math.inf)   # the full scan: compute-bound on a CPU
    assert 131072 in TINY['timing_lengths']
    for g in ('acc_gain_trained_vs_untrained_selector', 'acc_gain_trained_vs_untrained_selector_retrieval', 'distractor_gap_oracle_vs_untrained_selector'):
        lo, hi = m[g]['interval']
        assert lo <= m[g]['value'] <= hi, g
    # the distractor task: every method at the budget (top-p ones calibrated), recall of the dense top-p sets
    for n in methods + ('oracle_topp',):
        assert abs(m[f'distractor_mean_keys_{n}']['value'] - TINY['budget']) <= 1.0, n
        lo, hi = m[f'distractor_acc_{n}']['interval']
        assert lo <= m[f'distractor_acc_{n}']['value'] <= hi and m[f'distractor_acc_{n}']['n'] == TINY['distractor']['n']
        for p in (50, 80, 90, 95):
            assert 0 <= m[f'distractor_recall_top_p{p}_{n}']['value'] <= 1 and (n == 'oracle_topp' or 0 <= m[f'recall_top_p{p}_{n}']['value'] <= 1)
    assert m['distractor_mass_recall_oracle']['value'] >= m['distractor_mass_recall_spot_topk']['value'] - 1e-6
    assert m['acc_gain_trained_vs_untrained_selector']['expect'] == '> 0' and m['acc_gain_trained_vs_untrained_selector']['claim']
    for f in ('int4', 'mxfp4', 'nvfp4'):
        assert 3.4 < m[f'selector_cache_compression_{f}']['value'] < 3.8 and f'acc_delta_quantized_{f}_ci' in m
    assert m['base_weights_unchanged']['value'] is True
    assert m['mass_recall_oracle']['value'] >= m['mass_recall_spot_topk']['value'] - 1e-6   # oracle top-K is optimal
    assert m['selector_kl_heldout']['value'] < 0.95 * m['selector_kl_heldout_init_light']['value']   # distillation helps at the training length
    assert m['selector_kl_heldout_full']['value'] < 0.95 * m['selector_kl_heldout_init']['value']    # for the full-size selector too
    assert m['selector_cache_bytes_ratio']['value'] == 0.5 and m['selector_cache_bytes_ratio_mxfp4']['value'] < 0.5 / 3.5
    for k in ('decode_speedup_vs_dense_L131072_spread', 'decode_speedup_vs_twilight_full_scan_L131072_spread', 'traffic_limit_L131072'): assert k in m
    lo, hi = m['decode_speedup_vs_dense_L131072_spread']['value']
    assert lo <= m['decode_speedup_vs_dense_L131072']['value'] <= hi
    for f in ('spot_summary', 'spot_accuracy', 'spot_error_budget'): assert (tmp_path / r['figures'][f]).exists()
    # matched attention-output error (vAttention's protocol) and intervals on the recall of the dense top-p sets
    for n in methods + ('oracle_topp',):
        for e in (5, 10):
            b = m[f'budget_at_error{e}_{n}']['value']
            assert (isinstance(b, float) and 0 < b <= 256) or b.startswith('not reached'), (n, b)
    for n in methods:
        for p in (50, 80, 90, 95):
            for pre in ('recall', 'distractor_recall'):
                lo, hi = m[f'{pre}_top_p{p}_{n}']['interval']
                assert 0 <= lo <= m[f'{pre}_top_p{p}_{n}']['value'] <= hi <= 1, (pre, p, n)
    for pre in ('recall', 'distractor_recall'):
        lo, hi = m[f'{pre}_top_p90_gain_trained_vs_untrained']['interval']
        assert lo <= m[f'{pre}_top_p90_gain_trained_vs_untrained']['value'] <= hi
    assert m['evaluations_read_from_cache']['value'] >= 0
    assert r['paper'] == 'spot' and r['scale'] == 'tiny' and r['smoke'] is False
    # claims are the paper's statements, never a measured number; a note names every length where dense itself is weak
    assert m['acc_gap_vs_dense_spot_topk']['claim'].startswith('matches dense') and m['acc_gap_vs_dense_spot_topk']['primary']
    assert m['passkey_acc_spot_topk_x1']['claim'] is None and m['passkey_acc_spot_topk_x1']['interval'] == m['passkey_acc_spot_topk_x1_ci']['value']
    v = {x['metric']: x for x in r['verdicts']}                                  # each claim paired with the row measured as the paper does
    assert 'decode_speedup_vs_twilight_quest_L131072' in v and 'decode_speedup_vs_twilight_full_scan_L131072' not in v
    assert 'acc_gain_trained_vs_untrained_selector' in v                           # the verdict rule decides whether distillation mattered
    weak = [n for n, x in m.items() if '_acc_dense_x' in n and not n.endswith('_ci') and x['value'] < 0.9]
    assert not weak, weak                                                         # the shipped base retrieves at every length
    assert any('fewer than 90%' in n for n in r['notes']) == bool(weak)

def test_bad_scale(tmp_path):
    with pytest.raises(ValueError, match='expected one of'): reproduce('huge', out=tmp_path)
    with pytest.raises(ValueError, match='small'): reproduce('tiny', smoke=True, out=tmp_path)
    with pytest.raises(ValueError, match='small/full'): reproduce('tiny', model='Qwen/Qwen3-0.6B', out=tmp_path)
