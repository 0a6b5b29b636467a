"""Input a user can fix is refused at the boundary: the real `lmpapers` command exits with status 2, says on one line of
stderr what is wrong and how to fix it, and does no work first (no stage line, no results file, no report).

The cases the command line checks itself (seed, paths, files) return before torch is imported; the ones only a paper
knows (which options it honours, what its --data must hold) return from the top of the paper's `reproduce`. The commands
run two at a time, as the module's first test asks for them all."""
import json, subprocess, sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import pytest

LMPAPERS = str(Path(sys.executable).parent/'lmpapers')
HELPSTEER = Path(__file__).parent/'data'/'helpsteer2'

def _files(d: Path) -> Path:
    "A folder of inputs: a CSV without a text column, broken JSON, an empty CSV, a folder that is not a model, one that is not HelpSteer2."
    (d/'in').mkdir()
    (d/'in'/'no_text.csv').write_text('id,body\n1,some words\n2,more words\n')
    (d/'in'/'broken.json').write_text('{"text": "unterminated\n')
    (d/'in'/'empty.csv').write_text('')
    (d/'in'/'not_a_model').mkdir(); (d/'in'/'not_a_model'/'weights.bin').write_bytes(b'\0')
    (d/'in'/'not_helpsteer').mkdir(); (d/'in'/'not_helpsteer'/'train.csv').write_text('prompt,response\nq,a\n')
    return d/'in'

# name -> (arguments after `reproduce`, what the line must say)
CASES = {
    'seed_negative':       (['gfa', '--seed', '-1'], 'in [0, 2**31)'),
    'seed_too_large':      (['judges', '--seed', str(2**31)], 'in [0, 2**31)'),
    'data_missing':        (['gfa', '--scale', 'small', '--smoke', '--data', '{in}/nope.csv'], 'no such file or folder'),
    'data_broken_json':    (['gfa', '--scale', 'small', '--smoke', '--data', '{in}/broken.json'], 'is not JSON'),
    'data_empty_csv':      (['spot', '--scale', 'small', '--smoke', '--data', '{in}/empty.csv'], 'is empty'),
    'text_column_no_data': (['gfa', '--scale', 'small', '--smoke', '--text-column', 'body'], 'add --data'),
    'model_not_a_model':   (['bastion', '--scale', 'small', '--smoke', '--model', '{in}/not_a_model'], 'is not a model: the folder has no config.json'),
    'model_missing':       (['metasd', '--scale', 'small', '--smoke', '--model', '{in}/no_such_model'], 'no such folder'),
    'quick_not_tiny':      (['msft', '--scale', 'small', '--quick'], 'use it with --scale tiny'),
    # checked by the paper, before any work
    'no_text_column':      (['gfa', '--scale', 'small', '--smoke', '--data', '{in}/no_text.csv'],
                            "has no 'text' column (columns: id, body); name the column that holds the text with --text-column"),
    'text_column_ignored': (['judges', '--data', str(HELPSTEER), '--text-column', 'prompt'], 'judges takes no --text-column'),
    'data_ignored':        (['leanrl', '--data', '{in}/no_text.csv'], "leanrl at scale 'tiny' takes no --data"),
    'judges_data_first':   (['judges', '--data', '{in}/not_helpsteer'], 'is not a HelpSteer2 copy'),
}

@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    d = tmp_path_factory.mktemp('boundary'); inp = _files(d)
    def one(item):
        name, (args, _) = item
        out = d/f'out_{name}'
        t0 = time.time()
        r = subprocess.run([LMPAPERS, 'reproduce', *[a.format(**{'in': inp}) for a in args], '--out', str(out)],
                           capture_output=True, text=True, timeout=600)
        return name, dict(code=r.returncode, out=r.stdout, err=r.stderr, seconds=time.time() - t0, folder=out)
    with ThreadPoolExecutor(2) as ex: return dict(ex.map(one, CASES.items()))

@pytest.mark.parametrize('name', list(CASES))
def test_refused_in_one_line_before_any_work(runs, name):
    r, message = runs[name], CASES[name][1]
    lines = r['err'].strip().splitlines()
    assert r['code'] == 2, (r['code'], r['out'][-2000:], r['err'][-3000:])
    assert len(lines) == 1 and lines[0].startswith('error: ') and message in lines[0], r['err'][-3000:]
    assert 'Traceback' not in r['out'] + r['err']
    assert '   · ' not in r['out'], r['out']                    # no stage of the run started
    assert not list(r['folder'].glob('*.json')) and not (r['folder']/'report.md').exists()   # no results file, no report
    assert r['seconds'] < 120, r['seconds']                      # a real run takes minutes; a refusal, seconds (on a busy machine)
