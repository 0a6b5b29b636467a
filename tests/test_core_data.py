"Synthetic tasks are the same in every process (no dependence on Python's per-process string hashing)."
import json, os, subprocess, sys

CODE = "import json; from lmpapers.core.data import word_mapping, mapping_task; print(json.dumps([word_mapping(3), mapping_task(3, seed=1)[:]]))"

def test_mapping_task_identical_across_hash_seeds():
    outs = {subprocess.run([sys.executable, '-c', CODE], capture_output=True, text=True, check=True,
                           env={**os.environ, 'PYTHONHASHSEED': str(h)}).stdout for h in (0, 1, 2)}
    assert len(outs) == 1, outs
    m = json.loads(outs.pop())[0]
    assert len(set(m.values())) == len(m)            # still a bijection onto invented words
