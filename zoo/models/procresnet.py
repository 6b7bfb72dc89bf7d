"""Procrustes ResNets (ProcResNet; Zaeemzadeh, Rahnavard, Shah 2021).

Pre-activation bottleneck ResNet whose stages hold identity units only: stem conv3x3 3 -> 4w,
stages of n bottleneck units at 4w, 8w, 16w channels (w = 16), and between stages a standalone
1x1 stride-2 transition convolution; final BN-ReLU, global average pooling, dense classifier.
Depth 9n+4. The stem and transition convolutions are :class:`NormPreservingConv2D`; with
``projection`` on, train with :class:`zoo.layers.NormPreservingProjection` (``zoo.train``
adds it) to project them after optimizer steps.
"""

from __future__ import annotations

import keras

from zoo import validation as check
from zoo.layers import NormPreservingConv2D, ResidualUnit
from zoo.layers.branch import EXPANSION
from zoo.models.stem_head import classifier_head, model_input
from zoo.registry import register_model

STAGES = 3
_PROJECTIONS = {True: "polar", False: None, "polar": "polar", "clip": "clip", None: None}


def procresnet(
    depth=166,
    *,
    projection=True,
    clip=1.0,
    input_shape=(32, 32, 3),
    num_classes=10,
    width=16,
    classifier_activation="softmax",
    input_normalization=None,
    name=None,
):
    """ProcResNet of depth 9n+4 (166, 274, 634, 1003). ``projection``: True/"polar" (the
    paper), "clip" (Sedghi et al., singular values <= ``clip``) or False (same layout, no
    projection)."""
    n = check.depth("depth", depth, multiple=9, offset=4, examples=(166, 274, 634, 1003))
    if projection not in _PROJECTIONS:
        raise ValueError(
            f"projection must be True, False, 'polar' or 'clip', got {projection!r}"
        )
    mode = _PROJECTIONS[projection]
    width = check.positive_int("width", width)
    inputs, x = model_input(input_shape, STAGES - 1, input_normalization)
    x = NormPreservingConv2D(width * EXPANSION, 3, projection=mode, clip=clip,
                             name="stem_conv")(x)
    for s in range(STAGES):
        if s > 0:
            x = NormPreservingConv2D(width * 2**s * EXPANSION, 1, strides=2, projection=mode,
                                     clip=clip, name=f"transition{s}")(x)
        for u in range(n):
            x = ResidualUnit(width * 2**s, kind="bottleneck", preactivation=True,
                             name=f"stage{s + 1}_unit{u + 1}")(x)
    outputs = classifier_head(x, num_classes, preactivation=True,
                              classifier_activation=classifier_activation)
    return keras.Model(inputs, outputs, name=name or f"procresnet{depth}")


_PAPER = "Zaeemzadeh, Rahnavard, Shah, Norm-Preservation: Why Residual Networks Can Become Extremely Deep?, TPAMI 2021"
register_model("procresnet166", procresnet, family="procresnet", paper=_PAPER,
               reference_params=1_720_000, depth=166,
               description="ProcResNet-166 with Procrustes projection of stem and transitions.")
register_model("procresnet166_noproj", procresnet, family="procresnet", paper=_PAPER,
               reference_params=1_720_000, depth=166, projection=False,
               description="ProcResNet-166 layout without projection (ablation).")
register_model("procresnet22", procresnet, family="procresnet", paper=_PAPER, depth=22,
               description="A small ProcResNet (n = 2) for quick experiments.")
register_model("procresnet22_noproj", procresnet, family="procresnet", paper=_PAPER, depth=22,
               projection=False, description="procresnet22 without projection (ablation).")
