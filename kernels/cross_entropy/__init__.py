"Cross-entropy over a vocabulary: a fused Triton kernel (forward + backward in one pass) and its torch reference."
from __future__ import annotations
import torch
from ..dispatch import check_backend, use_triton
from .naive import REDUCTIONS, check_cross_entropy_inputs, cross_entropy_ref

__all__ = ['cross_entropy', 'cross_entropy_ref', 'check_cross_entropy_inputs', 'REDUCTIONS']

def cross_entropy(logits: torch.Tensor,  # [N, V] unnormalised scores (flatten batch and time first)
                  labels: torch.Tensor,  # [N] int64 class ids, or `ignore_index`
                  ignore_index: int = -100, # rows with this label add no loss and get zero gradient
                  reduction: str = 'mean',  # 'mean' over non-ignored rows (0 if none), 'sum', or 'none'
                  backend: str = 'auto',    # 'auto': Triton on CUDA, reference elsewhere; 'triton'; 'torch'
                  ) -> torch.Tensor:
    "Cross-entropy in fp32 whatever the logits' dtype; the Triton path never materialises the softmax."
    check_backend(backend)
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor, got {type(logits).__name__}")
    if use_triton(backend, logits.device):
        from .fused import cross_entropy_triton  # imports triton only now
        return cross_entropy_triton(logits, labels, ignore_index, reduction)
    return cross_entropy_ref(logits, labels, ignore_index, reduction)
