"""The module forms of functional's losses, as in ``torch.nn``: ``criterion = nn.NLLLoss(); criterion(out, y)``."""

from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["NLLLoss", "CrossEntropyLoss", "MSELoss"]


class _Loss(Module):
    def __init__(self, reduction="mean"):
        super().__init__()
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"{type(self).__name__}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight=None, ignore_index=-100, reduction="mean"):
        super().__init__(reduction)
        self.ignore_index = ignore_index
        self.register_buffer("weight", weight)  # in the state dict when given, as in PyTorch


class NLLLoss(_WeightedLoss):
    """−log_probs[n, target_n] (times ``weight[target_n]``), averaged over the targets that count.

    input (N, C) log-probabilities (e.g. from ``LogSoftmax(dim=1)``), target (N,) class indices.
    """

    def forward(self, input, target):
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index, reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """−log softmax(input_n)[target_n] (times ``weight[target_n]``): ``NLLLoss`` of ``LogSoftmax`` in one op.

    input (N, C) raw scores (logits), target (N,) class indices.
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
        super().__init__(weight, ignore_index, reduction)
        if label_smoothing:
            raise NotImplementedError("CrossEntropyLoss: label_smoothing is not implemented in tinygrad_seq")
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction)


class MSELoss(_Loss):
    """(input − target)², averaged (or summed) over every element."""

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)
