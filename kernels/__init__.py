"""Hand-written Triton kernels, each beside a plain-torch reference that defines what it computes.

`backend='auto'` runs a kernel on CUDA tensors and its reference elsewhere; see `dispatch` for the
rules. Triton is imported only when a kernel is launched.
"""
from .dispatch import (BACKENDS, triton_available, interpret_requested, check_backend, use_triton, checks_now,
                       deferred_checks, check_later, raise_pending)
from .cross_entropy import cross_entropy, cross_entropy_ref

__all__ = ['BACKENDS', 'triton_available', 'interpret_requested', 'check_backend', 'use_triton', 'checks_now',
           'deferred_checks', 'check_later', 'raise_pending',
           'cross_entropy', 'cross_entropy_ref']
