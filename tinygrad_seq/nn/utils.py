"""``nn.utils`` as in PyTorch: gradient clipping (the one implementation lives in optim.py)."""

from ..optim import clip_grad_norm_, clip_grad_value_

__all__ = ["clip_grad_norm_", "clip_grad_value_"]
