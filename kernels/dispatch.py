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

Checks that read tensor *contents* (NaN, an index range, a continuation) make the host wait for the
device. `check_later(bad, message)` runs such a check at once by default; inside `deferred_checks(pending)`
(a decode step) it only ORs `bad` into `pending`, on the device, and `raise_pending(pending)` raises
after the steps — one host sync for the whole generation instead of several per layer and step.
"""
from __future__ import annotations
import importlib.util, os
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ['BACKENDS', 'triton_available', 'interpret_requested', 'check_backend', 'use_triton',
           'checks_now', 'deferred_checks', 'check_later', 'raise_pending']

_PENDING: ContextVar = ContextVar('lmpapers_pending_checks', default=None)   # None: content checks run at once

def checks_now() -> bool:
    "True unless inside `deferred_checks`: content checks may read tensors on the host."
    return _PENDING.get() is None

@contextmanager
def deferred_checks(pending: dict):
    "Inside, `check_later` queues its checks in `pending` ({(message, exception class): bool tensor}) instead of syncing."
    if not isinstance(pending, dict): raise TypeError(f"pending must be a dict, got {type(pending).__name__}")
    token = _PENDING.set(pending)
    try: yield pending
    finally: _PENDING.reset(token)

def check_later(bad, message: str, exc: type = ValueError):
    "Raise `exc(message)` if the bool tensor `bad` holds a True: now, or (inside `deferred_checks`) at `raise_pending`."
    pending = _PENDING.get()
    if pending is None:
        if bool(bad.any()): raise exc(message)
        return
    key = (message, exc)
    prev = pending.get(key)
    pending[key] = bad.any() if prev is None else prev | bad.any()     # one flag per distinct check: bounded, on the device

def raise_pending(pending: dict):
    "Raise the first queued check whose flag is set (one host read per distinct check), then empty `pending`."
    items = list(pending.items()); pending.clear()
    for (message, exc), bad in items:
        if bool(bad): raise exc(message)

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
