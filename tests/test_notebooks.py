"Notebook hygiene the docs build depends on."
import ast, json
from pathlib import Path
import pytest

NBS = sorted(p for p in (Path(__file__).parent.parent/'nbs').rglob('*.ipynb') if '.ipynb_checkpoints' not in p.parts)

def _code(cell):
    lines = [l for l in ''.join(cell['source']).splitlines() if not l.lstrip().startswith(('%', '!'))]
    return '\n'.join(lines)

def mixed_import_cells(nb_path):
    "Indices of code cells holding imports and other statements (nbdev re-runs those out of context)."
    bad = []
    for i, cell in enumerate(json.loads(nb_path.read_text())['cells']):
        if cell['cell_type'] != 'code': continue
        try: body = ast.parse(_code(cell)).body
        except SyntaxError: continue
        kinds = {isinstance(s, (ast.Import, ast.ImportFrom)) for s in body}
        if kinds == {True, False}: bad.append(i)
    return bad

@pytest.mark.parametrize('nb', NBS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_imports_live_in_cells_of_their_own(nb):
    assert not mixed_import_cells(nb), f'{nb.name}: cells {mixed_import_cells(nb)} mix imports with other code; move the imports to an imports-only cell'

def test_the_check_catches_a_mixed_cell(tmp_path):
    nb = dict(cells=[dict(cell_type='code', source=['import os\n', 'x = os.sep']), dict(cell_type='code', source=['import os'])])
    (tmp_path/'a.ipynb').write_text(json.dumps(nb))
    assert mixed_import_cells(tmp_path/'a.ipynb') == [0]

def test_a_notebook_runs_top_to_bottom_in_a_jupyter_kernel(tmp_path):
    "What JupyterLab does: start the environment's ipykernel and run every cell in order."
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(Path(__file__).parent.parent/'nbs'/'core'/'03_models.ipynb', as_version=4)
    NotebookClient(nb, timeout=300, kernel_name='python3', resources={'metadata': {'path': str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', [])]
    assert not [o for o in outputs if o.output_type == 'error']
    assert any('parameters' in o.get('text', '') for o in outputs)
