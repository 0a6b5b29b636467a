"The `lmpapers` console script as a user meets it: exit codes, one-line errors, the results files."
import json, os, subprocess, sys
import importlib.metadata as md
from pathlib import Path
import pytest
from lmpapers.core import cli

LMPAPERS = str(Path(sys.executable).parent/'lmpapers')

def run(*args, **kw):
    r = subprocess.run([LMPAPERS, *args], capture_output=True, text=True, **kw)
    return r.returncode, r.stdout, r.stderr

def test_list_names_all_nine_papers():
    code, out, _ = run('list')
    assert code == 0
    for name in cli.PAPERS: assert f' {name} ' in out
    assert f'{len(cli.implemented())} of 9 implemented' in out

@pytest.mark.parametrize('args,message', [
    (['reproduce', 'gpt5'], 'unknown paper'),
    (['reproduce', 'all', '--scale', 'huge'], "invalid choice: 'huge'"),
    (['reproduce', 'all', '--seed', 'x'], "invalid int value"),
    (['reproduce', 'all', '--out', '/proc/not-here'], 'cannot write to output folder'),
    (['frobnicate'], 'invalid choice'),
])
def test_bad_input_gives_one_line_and_nonzero_exit(args, message):
    code, out, err = run(*args)
    assert code == 2, (code, out, err)
    assert message in err and 'Traceback' not in err + out

def test_paper_not_installed_is_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli, 'implemented', lambda: {k: v for k, v in md_papers().items() if k != 'unisafe'})
    assert cli.main(['reproduce', 'unisafe', '--out', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "paper 'unisafe' is not implemented yet" in err and len(err.strip().splitlines()) == 1

def md_papers():
    return {ep.name: ep for ep in md.entry_points(group='lmpapers.papers')}

def test_missing_optional_dependency_is_named(monkeypatch, capsys, tmp_path):
    ep = md.EntryPoint(name='leanrl', value='lean_dojo_not_installed_here:reproduce', group='lmpapers.papers')
    monkeypatch.setattr(cli, 'implemented', lambda: {'leanrl': ep})
    code = cli.main(['reproduce', 'leanrl', '--out', str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert "needs the package 'lean_dojo_not_installed_here'" in err and 'pip install' in err

class EP:
    "A stand-in entry point whose `load` returns `fn`."
    def __init__(self, fn): self.fn = fn
    def load(self): return self.fn

def test_scale_that_needs_a_gpu_is_one_line(monkeypatch, capsys, tmp_path):
    from lmpapers.core.scales import run_device
    def reproduce(scale, seed, out, smoke=False, model=None, data=None, verbose=False, quick=False, text_column=None): run_device(scale, smoke)
    monkeypatch.setattr(cli, 'implemented', lambda: {'spot': EP(reproduce)})
    monkeypatch.setattr('torch.cuda.is_available', lambda: False)
    assert cli.main(['reproduce', 'spot', '--scale', 'full', '--out', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error: paper 'spot' at scale 'full': scale 'full' needs a CUDA GPU" in err and 'add --smoke' in err
    assert len(err.strip().splitlines()) == 1

def test_options_reach_the_paper(monkeypatch, tmp_path):
    seen = {}
    def reproduce(scale, seed, out, smoke=False, model=None, data=None, verbose=False, quick=False, text_column=None):
        seen.update(scale=scale, smoke=smoke, model=model, data=data, verbose=verbose)
        from lmpapers.core.results import Results
        return Results('spot', scale, seed, out, smoke=smoke).save()
    monkeypatch.setattr(cli, 'implemented', lambda: {'spot': EP(reproduce)})
    assert cli.main(['reproduce', 'spot', '--scale', 'small', '--smoke', '--model', 'm', '--data', 'd', '--out', str(tmp_path)]) == 0
    assert seen == dict(scale='small', smoke=True, model='m', data='d', verbose=False)

def test_paper_without_the_options_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(cli, 'implemented', lambda: {'spot': EP(lambda scale, seed, out: None)})
    with pytest.raises(TypeError, match='lacks the option'): cli.main(['reproduce', 'spot', '--out', str(tmp_path)])

def test_every_installed_paper_takes_every_option():
    for name, ep in cli.implemented().items(): cli.check_reproduce(name, ep.load())

def test_failing_paper_in_all_does_not_stop_the_others(monkeypatch, tmp_path, capsys):
    from lmpapers.core.scales import ScaleUnavailable
    def ok(scale, seed, out, smoke=False, model=None, data=None, verbose=False, quick=False, text_column=None):
        from lmpapers.core.results import Results
        r = Results('judges', scale, seed, out); r.add('x', 1.0); return r.save()
    def boom(scale, seed, out, smoke=False, model=None, data=None, verbose=False, quick=False, text_column=None): raise RuntimeError('diverged')
    def no_gpu(scale, seed, out, smoke=False, model=None, data=None, verbose=False, quick=False, text_column=None): raise ScaleUnavailable('needs a CUDA GPU')
    monkeypatch.setattr(cli, 'implemented', lambda: {'gfa': EP(boom), 'spot': EP(no_gpu), 'judges': EP(ok)})
    assert cli.main(['reproduce', 'all', '--out', str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert 'failed: gfa, spot' in captured.err and 'diverged' in captured.err
    assert (tmp_path/'judges.json').exists()
    for name, msg in (('gfa', 'RuntimeError: diverged'), ('spot', 'needs a CUDA GPU')):
        rec = json.loads((tmp_path/f'{name}.json').read_text())
        assert rec['status'] == 'failed' and msg in rec['error']
    report = (tmp_path/'report.md').read_text()
    assert '**failed**: `RuntimeError: diverged`' in report and '## judges' in report
    assert 'gfa (tiny): failed: RuntimeError: diverged' in captured.out and 'judges (tiny): no claim of the paper recorded' in captured.out   # one summary line a paper

def test_output_folder_check_is_safe_for_runs_sharing_a_folder(tmp_path):
    "Papers run side by side into one folder (as `make test`'s smoke step does) each probe it without tripping the others."
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(8) as ex: outs = list(ex.map(cli.check_out_dir, [tmp_path] * 400))
    assert all(o == tmp_path for o in outs) and not list(tmp_path.iterdir())   # no probe left behind
