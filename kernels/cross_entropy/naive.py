"Plain-torch cross-entropy: the reference that defines what the fused kernel must compute."
from __future__ import annotations
import torch

__all__ = ['REDUCTIONS', 'check_cross_entropy_inputs', 'cross_entropy_ref']

REDUCTIONS = ('mean', 'sum', 'none')

def check_cross_entropy_inputs(logits, labels, ignore_index: int = -100, reduction: str = 'mean',
                               check_range: bool = True):
    "Raise `TypeError`/`ValueError` unless `logits` [N, V] and `labels` [N] are a valid cross-entropy input."
    if not isinstance(logits, torch.Tensor) or not isinstance(labels, torch.Tensor):
        raise TypeError(f"logits and labels must be torch.Tensor, got {type(logits).__name__} and {type(labels).__name__}")
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; expected one of {', '.join(map(repr, REDUCTIONS))}")
    if logits.dim() != 2:
        raise ValueError(f"logits must be 2-D [N, V] (flatten batch and time first), got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating dtype (float32, bfloat16, float16), got {logits.dtype}")
    if labels.dim() != 1:
        raise ValueError(f"labels must be 1-D [N], got shape {tuple(labels.shape)}")
    if labels.dtype != torch.int64:
        raise TypeError(f"labels must be int64 (torch.long), got {labels.dtype}")
    if labels.shape[0] != logits.shape[0]:
        raise ValueError(f"labels has {labels.shape[0]} entries but logits has {logits.shape[0]} rows; they must match")
    if labels.device != logits.device:
        raise ValueError(f"logits and labels must be on the same device, got {logits.device} and {labels.device}")
    if logits.shape[1] == 0:
        raise ValueError("logits has an empty vocabulary dimension (V == 0)")
    if check_range and labels.numel():
        V = logits.shape[1]
        bad = (labels != ignore_index) & ((labels < 0) | (labels >= V))
        if bad.any():  # one host sync; cheap next to an [N, V] pass
            i = int(bad.nonzero()[0, 0])
            raise ValueError(f"labels[{i}] = {int(labels[i])} is outside [0, {V}) and is not ignore_index={ignore_index}")

def cross_entropy_ref(logits: torch.Tensor,  # [N, V] unnormalised scores, any floating dtype
                      labels: torch.Tensor,  # [N] int64 class ids, or `ignore_index`
                      ignore_index: int = -100, # label value whose row adds no loss and no gradient
                      reduction: str = 'mean',  # 'mean' over non-ignored rows, 'sum', or 'none' ([N])
                      ) -> torch.Tensor:
    "Cross-entropy in fp32 (fp64 for fp64 logits); an all-ignored batch has mean loss 0, not NaN."
    check_cross_entropy_inputs(logits, labels, ignore_index, reduction)
    x = logits.to(torch.promote_types(logits.dtype, torch.float32))  # [N, V], bf16/fp16 upcast
    valid = labels != ignore_index                       # [N]
    safe = torch.where(valid, labels, torch.zeros_like(labels))
    lse = torch.logsumexp(x, dim=-1)                     # [N]
    target = x.gather(1, safe[:, None]).squeeze(1)       # [N]
    loss = torch.where(valid, lse - target, torch.zeros_like(lse))  # [N]
    if reduction == 'none': return loss
    if reduction == 'sum': return loss.sum()
    return loss.sum() / valid.sum().clamp(min=1)
