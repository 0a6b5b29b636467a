"""Quiet by default: a GRPO run (the permix and rl training path, TRL inside) writing to a file prints no per-step metric
dicts and no deprecation warnings; with verbose it prints both. Each run is a fresh process (warnings show once per
process) with stdout and stderr going to a file, not a terminal."""
import os, subprocess, sys
import pytest

SCRIPT = r'''
import sys, tempfile
from lmpapers.core.scales import quiet
from lmpapers.permix.training import grpo_train, GRPOSettings
from lmpapers.rl.trainer import TokenAdvantageGRPOTrainer, tiny_grpo_setup
verbose = sys.argv[1] == 'verbose'
def length_reward(completions, **kw): return [float(len(c)) for c in completions]
with tempfile.TemporaryDirectory() as d:
    with quiet(): m, tok, ds, cfg = tiny_grpo_setup(d, steps=2, num_generations=2, max_completion_length=4)   # the fixture, built quietly
    _, log = grpo_train(m, tok, ds.select([0, 1, 0, 1]), [length_reward], GRPOSettings(steps=2, prompts_per_step=2, G=2, max_new=4),
                        verbose=verbose)
    print(f'permix path: {len(log)} steps logged', flush=True)
    if not verbose:                                   # the rl trainer alone, under `quiet` as `lmpapers reproduce` runs it
        with quiet():
            tr = TokenAdvantageGRPOTrainer(model=m, reward_funcs=length_reward, args=cfg, train_dataset=ds, processing_class=tok)
            tr.train()
        print(f'rl path: {sum("loss" in h for h in tr.state.log_history)} steps logged', flush=True)
'''

def run(mode: str, tmp_path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ('LMPAPERS_VERBOSE', 'PYTHONWARNINGS')}
    env['OMP_NUM_THREADS'] = '1'
    log = tmp_path/f'{mode}.log'
    with open(log, 'w') as f:                         # a file: not a terminal
        p = subprocess.run([sys.executable, '-c', SCRIPT, mode], stdout=f, stderr=subprocess.STDOUT, env=env, timeout=600)
    text = log.read_text()
    assert p.returncode == 0, text[-3000:]
    return text

def test_quiet_by_default(tmp_path):
    text = run('quiet', tmp_path)
    assert 'permix path: 2 steps logged' in text and 'rl path: 2 steps logged' in text, text   # the metrics are still collected
    assert "{'loss':" not in text, text
    assert 'FutureWarning' not in text and 'DeprecationWarning' not in text, text
    assert len(text.strip().splitlines()) == 2, text                                         # nothing but the script's own lines

def test_verbose_shows_all(tmp_path):
    text = run('verbose', tmp_path)
    assert 'permix path: 2 steps logged' in text
    assert text.count("{'loss':") == 2, text                                                 # TRL's dict per step
    assert 'FutureWarning' in text, text
