"""Losses of (outputs, batch) (issue 20 §2): the batch as read, a dict or a tuple, beside the
same losses of (outputs, targets)."""

import torch
import torch.nn.functional as F

SEEN = []  # the kinds of batch the (outputs, batch) losses were given


def _masked_nll(logits, labels, mask):
    nll = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view(labels.shape)
    return (nll * mask).sum(dim=1) / mask.sum(dim=1)


def masked_nll(outputs, batch):
    """Per-sequence mean NLL over the positions the batch's attention_mask keeps."""
    SEEN.append(sorted(batch))
    return _masked_nll(outputs, batch["labels"], batch["attention_mask"].to(outputs.dtype))


def masked_nll_of_targets(outputs, targets):
    return _masked_nll(outputs, targets, torch.ones_like(targets, dtype=outputs.dtype))


def cross_entropy_of_tuple(outputs, batch):
    inputs, targets = batch
    SEEN.append(("tuple", tuple(inputs.shape[1:])))
    return F.cross_entropy(outputs, targets, reduction="none")


def cross_entropy_of_targets(outputs, targets):
    return F.cross_entropy(outputs, targets, reduction="none")
