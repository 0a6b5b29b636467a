"The package layout: every generated or hand-written package is installed, and kernels live in `lmpapers.kernels`."
import subprocess, sys, tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent

def _packages_on_disk():
    found = set()
    for base, prefix in (('lmpapers', 'lmpapers'), ('kernels', 'lmpapers.kernels')):
        for init in (ROOT/base).rglob('__init__.py'):
            rel = init.parent.relative_to(ROOT/base)
            found.add('.'.join([prefix, *rel.parts]))
    return found

def test_every_package_folder_is_listed_in_pyproject():
    listed = set(tomllib.loads((ROOT/'pyproject.toml').read_text())['tool']['setuptools']['packages'])
    missing = _packages_on_disk() - listed
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    assert not listed - _packages_on_disk(), f"listed but not on disk: {sorted(listed - _packages_on_disk())}"

def test_no_settings_ini_and_nbdev_reads_pyproject():
    assert not (ROOT/'settings.ini').exists()
    from nbdev.config import get_config
    cfg = get_config(ROOT)
    assert cfg.lib_path == ROOT/'lmpapers' and cfg.nbs_path == ROOT/'nbs'

def test_kernels_import_as_subpackage_without_triton():
    code = "import sys, lmpapers.kernels as k; assert 'triton' not in sys.modules; print(k.__name__)"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'lmpapers.kernels'
