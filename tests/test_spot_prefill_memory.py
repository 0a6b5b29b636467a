"Long prefill runs in memory linear in the context: no [T, T] mask or score matrix, dense (SDPA) or sparse (query chunks)."
import json, subprocess, sys
import pytest

SCRIPT = r'''
import json, sys, torch
torch.set_num_threads(1)
from lmpapers.core.models import model_config, build_model
from lmpapers.spot.selector import SpotSelector
from lmpapers.spot.integration import sparse, TopK, SelectorScorer
def mb(field):
    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(field)) / 1024
def peak_above_now(fn):
    open('/proc/self/clear_refs', 'w').write('5')          # reset the peak (VmHWM) to the current resident set
    now = mb('VmRSS'); fn(); return mb('VmHWM') - now
out = {}
for T, mode in ((32768, 'dense'), (16384, 'sparse')):
    m = build_model(model_config('tiny', vocab_size=256, num_hidden_layers=1, hidden_size=32, intermediate_size=64, head_dim=32,
                                 num_attention_heads=1, num_key_value_heads=1, max_position_embeddings=T), 0).eval()
    ids = torch.randint(2, 256, (1, T), generator=torch.Generator().manual_seed(0))
    method = TopK(SelectorScorer(SpotSelector.for_model(m), 'int4'), k=64)
    def run():
        with torch.no_grad(), sparse(m, method, prefill=mode): m(ids, logits_to_keep=1)
    out[mode] = peak_above_now(run)
print(json.dumps(out))
'''

def test_prefill_peak_memory_is_linear_in_the_context(tmp_path):
    r = subprocess.run([sys.executable, '-c', SCRIPT], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    peak = json.loads(r.stdout.strip().splitlines()[-1])
    # one [T, T] float32 mask or score matrix alone would be 4096 MB at 32K and 1024 MB at 16K
    assert peak['dense'] < 300, peak      # 32K tokens, the model's own causal SDPA
    assert peak['sparse'] < 300, peak     # 16K tokens, sparse prefill in query chunks (scores ~16 MB per chunk)
