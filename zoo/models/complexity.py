"""How big and how costly a model is: parameters and FLOPs per image.

FLOPs count the multiply-adds of convolutions and dense layers (2 FLOPs each), the
convention of the ResNet papers; batch norm, activations, additions and pooling are left out
(they are < 1% for these nets). They are measured, not derived from the config: one image
goes through the model while every layer that owns a kernel records the size of its output,
so grouped, fused, merge-and-run and norm-preserving layers need no rules of their own.
"""

from __future__ import annotations

import math

import numpy as np

from zoo import compat


def _kernel_layers(model):
    """Layers that own a ``kernel`` weight (Conv*, Dense, BranchConv2D), at any depth."""
    found = []
    for layer in compat.flatten_layers(model):
        own = {id(w) for w in compat.own_trainable_variables(layer)}
        kernel = getattr(layer, "kernel", None)
        if kernel is not None and id(kernel) in own:
            found.append(layer)
    return found


def flops(model) -> int:
    """FLOPs (2 x multiply-adds of conv and dense layers) of one forward pass of one image."""
    shape = tuple(model.input_shape[1:])
    if any(d is None for d in shape):
        raise ValueError(f"flops needs a fixed input shape, got {shape}")
    layers = _kernel_layers(model)
    macs = {id(layer): 0 for layer in layers}

    def counting(layer, call):
        per_position = math.prod(layer.kernel.shape)  # = k*k*C_in/groups*C_out, or in*out
        def wrapped(*args, **kwargs):
            out = call(*args, **kwargs)
            positions = math.prod(out.shape[1:-1]) if len(out.shape) > 2 else 1
            macs[id(layer)] += per_position * positions
            return out
        return wrapped

    with compat.wrapped_calls(layers, counting):
        model(np.zeros((1, *shape), dtype="float32"), training=False)
    return 2 * sum(macs.values())


def parameter_counts(model) -> dict:
    """Trainable and total parameters (total includes batch-norm moving statistics)."""
    trainable = sum(math.prod(w.shape) for w in model.trainable_weights)
    return {"trainable": int(trainable), "total": int(model.count_params())}
