"""Fused cross-entropy in Triton: loss and d(loss)/d(logits) in one kernel launch.

One program handles one row of `logits` [N, V]. Pass 1 streams the row in `BLOCK_V` chunks and
keeps an online log-sum-exp (running max `m` and running sum `d` of `exp(x - m)`); the loss is
`lse - x[label]`. Pass 2 streams the row again and writes `softmax(x) - onehot(label)`, scaled by the
reduction (1/n_valid for 'mean'), into a gradient buffer. The backward pass only multiplies that
buffer by the incoming gradient, so the [N, V] softmax is never stored next to the logits and no
fp32 copy of the logits ever exists. Loads are cast to fp32 (the arithmetic is fp32 whatever the
input dtype); the gradient is stored in the logits' dtype.

This module imports `triton` at import time; `lmpapers.kernels.cross_entropy` imports it lazily.
"""
from __future__ import annotations
import torch, triton
import triton.language as tl
from .naive import check_cross_entropy_inputs

__all__ = ['cross_entropy_fwd_kernel', 'is_interpreted', 'cross_entropy_triton', 'CrossEntropyFunction']

@triton.jit
def cross_entropy_fwd_kernel(
    logits_ptr, stride_row,     # [N, V], unit stride along V
    labels_ptr,                 # [N] int64
    loss_ptr,                   # [N] fp32 out: per-row loss (0 for ignored rows)
    grad_ptr, stride_grad,      # [N, V] out: scale * (softmax - onehot), logits dtype; unused if not HAS_GRAD
    V, ignore_index, grad_scale,
    HAS_GRAD: tl.constexpr, BLOCK_V: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    x_row = logits_ptr + row * stride_row
    label = tl.load(labels_ptr + row)
    ignored = label == ignore_index
    safe_label = tl.where(ignored, 0, label)
    cols = tl.arange(0, BLOCK_V)

    # pass 1: online log-sum-exp over the row
    m = float('-inf')
    d = 0.0
    for start in range(0, V, BLOCK_V):
        offs = start + cols
        x = tl.load(x_row + offs, mask=offs < V, other=float('-inf')).to(tl.float32)
        m_new = tl.maximum(m, tl.max(x, axis=0))
        d = d * tl.exp(m - m_new) + tl.sum(tl.exp(x - m_new), axis=0)
        m = m_new
    lse = m + tl.log(d)
    x_label = tl.load(x_row + safe_label).to(tl.float32)
    loss = tl.where(ignored, 0.0, lse - x_label)
    tl.store(loss_ptr + row, loss)

    # pass 2: d loss / d logits = scale * (softmax - onehot); zero on ignored rows
    if HAS_GRAD:
        scale = tl.where(ignored, 0.0, grad_scale)
        g_row = grad_ptr + row * stride_grad
        for start in range(0, V, BLOCK_V):
            offs = start + cols
            mask = offs < V
            x = tl.load(x_row + offs, mask=mask, other=0.0).to(tl.float32)
            g = tl.exp(x - lse) - tl.where(offs == safe_label, 1.0, 0.0)
            tl.store(g_row + offs, (g * scale).to(grad_ptr.dtype.element_ty), mask=mask)

def is_interpreted() -> bool:
    "True when the kernel was built by Triton's CPU interpreter (TRITON_INTERPRET=1 at import)."
    return type(cross_entropy_fwd_kernel).__name__ == 'InterpretedFunction'

def _launch_config(V: int, device: torch.device, block_v: int|None):
    "BLOCK_V and num_warps: big blocks under the interpreter (per-op cost dominates), moderate on GPU."
    if block_v is None:
        cap = 65536 if device.type != 'cuda' else 16384
        block_v = max(16, min(triton.next_power_of_2(V), cap))
    if block_v < 16 or block_v & (block_v - 1):
        raise ValueError(f"block_v must be a power of two >= 16, got {block_v}")
    num_warps = 4 if block_v <= 2048 else 8 if block_v <= 8192 else 16
    return block_v, num_warps

def _forward(logits, labels, ignore_index, reduction, need_grad, block_v=None):
    "Launch the kernel; return per-row loss [N] fp32, the scaled grad buffer (or None), n_valid."
    N, V = logits.shape
    if logits.stride(1) != 1: logits = logits.contiguous()
    labels = labels.contiguous()
    if logits.device.type != 'cuda' and not is_interpreted():
        raise RuntimeError(
            f"the Triton cross-entropy kernel got {logits.device.type} tensors but Triton is not in interpreter mode; "
            "set TRITON_INTERPRET=1 in the environment before lmpapers.kernels.cross_entropy.fused (or triton) is "
            "first imported, move the tensors to CUDA, or use backend='auto'/'torch'")
    n_valid = int((labels != ignore_index).sum()) if reduction == 'mean' else 0
    grad_scale = 1.0 / max(n_valid, 1) if reduction == 'mean' else 1.0
    loss = torch.empty(N, dtype=torch.float32, device=logits.device)
    grad = torch.empty_like(logits, memory_format=torch.contiguous_format) if need_grad else loss  # dummy ptr
    block, num_warps = _launch_config(V, logits.device, block_v)
    if N:
        cross_entropy_fwd_kernel[(N,)](logits, logits.stride(0), labels, loss, grad, grad.stride(0) if need_grad else 0,
                                       V, ignore_index, grad_scale,
                                       HAS_GRAD=need_grad, BLOCK_V=block, num_warps=num_warps)
    return loss, (grad if need_grad else None), n_valid

def _reduce(loss, reduction, n_valid):
    if reduction == 'none': return loss
    if reduction == 'sum': return loss.sum()
    return loss.sum() / max(n_valid, 1)

class CrossEntropyFunction(torch.autograd.Function):
    "Autograd wrapper: forward writes the gradient; backward scales it by the incoming gradient in place."
    @staticmethod
    def forward(ctx, logits, labels, ignore_index, reduction, need_grad, block_v):
        loss, grad, n_valid = _forward(logits, labels, ignore_index, reduction, need_grad, block_v)
        ctx.grad, ctx.reduction = grad, reduction
        return _reduce(loss, reduction, n_valid)

    @staticmethod
    def backward(ctx, grad_out):
        grad = ctx.grad
        if grad is None:
            raise RuntimeError("backward through the fused cross-entropy can run only once per forward "
                               "(its gradient buffer is reused in place); recompute the loss to differentiate again")
        ctx.grad = None
        go = grad_out.to(grad.dtype)
        grad.mul_(go[:, None] if ctx.reduction == 'none' else go)  # [N, V]
        return grad, None, None, None, None, None

def cross_entropy_triton(logits: torch.Tensor,  # [N, V] fp32/bf16/fp16, CUDA (or CPU under TRITON_INTERPRET=1)
                         labels: torch.Tensor,  # [N] int64
                         ignore_index: int = -100,
                         reduction: str = 'mean',
                         block_v: int|None = None, # vocabulary chunk per loop step (power of two); None picks one
                         ) -> torch.Tensor:
    "Fused cross-entropy through the Triton kernel; same contract as `cross_entropy_ref` (fp32 loss)."
    check_cross_entropy_inputs(logits, labels, ignore_index, reduction)
    need_grad = logits.requires_grad and torch.is_grad_enabled()  # no gradient buffer under no_grad/inference
    return CrossEntropyFunction.apply(logits, labels, int(ignore_index), reduction, need_grad, block_v)
