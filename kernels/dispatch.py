"""How `lmpapers.kernels` chooses between a Triton kernel and its torch reference.

Every kernel lives beside a plain-torch reference that defines what it must compute. A public
function takes `backend='auto'|'triton'|'torch'`:

- `'torch'` always runs the reference;
- `'auto'` runs the Triton kernel on CUDA tensors when Triton is installed, and the reference
  everywhere else (CPU, MPS, or no Triton), so a laptop gets exactly the reference's numbers;
- `'triton'` always runs the kernel. On CPU tensors that only works through Triton's interpreter,
  which `@triton.jit` selects when it decorates a kernel: `TRITON_INTERPRET=1` must be in the
  environment before the kernel module is first imported (simplest: before `import triton`).

Triton is imported lazily, the first time a kernel is actually launched, so `import lmpapers.kernels`
works without Triton and without the environment variable.
"""
from __future__ import annotations
import importlib.util, os

__all__ = ['BACKENDS', 'triton_available', 'interpret_requested', 'check_backend', 'use_triton']

BACKENDS = ('auto', 'triton', 'torch')

def triton_available() -> bool:
    "True when the `triton` package can be imported (it is not imported here)."
    return importlib.util.find_spec('triton') is not None

def interpret_requested() -> bool:
    "True when `TRITON_INTERPRET` is set to a true value in this process's environment."
    return os.environ.get('TRITON_INTERPRET', '0').lower() in ('1', 'true', 'on', 'yes')

def check_backend(backend: str) -> str:
    "Return `backend` if it is one of `BACKENDS`, else raise a `ValueError` listing the choices."
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(map(repr, BACKENDS))}")
    return backend

def use_triton(backend: str, device) -> bool:
    "Whether `backend` on tensors living on `device` should launch the Triton kernel."
    check_backend(backend)
    if backend == 'torch': return False
    if backend == 'auto': return getattr(device, 'type', str(device)) == 'cuda' and triton_available()
    if not triton_available():
        raise ImportError("backend='triton' needs the `triton` package; install it (pip install 'lmpapers[kernels]') "
                          "or use backend='auto'")
    return True
