"""Deep merge-and-run networks (DMRNet; Zhao, Wang et al., IJCAI 2018).

Stem conv3x3 (16k) + BN + ReLU, from which every stream starts; three stages of b blocks of
widths 16k, 32k, 64k (k = ``widen``); the first block of stages 2 and 3 is a stride-2
transition (each stream with its own 1x1 projection); the last block merges the streams;
global average pooling and a dense classifier. Depth 6b+2 (a block is two 3x3 layers deep).
"""

from __future__ import annotations

import keras

from zoo import validation as check
from zoo.layers import MODES, MergeAndRunBlock
from zoo.models.stem_head import classifier_head, conv_stem, model_input
from zoo.registry import register_model

STAGES = 3


def dmrnet(
    depth=56,
    *,
    streams=2,
    widen=1,
    mode="merge_and_run",
    input_shape=(32, 32, 3),
    num_classes=10,
    width=16,
    classifier_activation="softmax",
    input_normalization=None,
    name=None,
):
    """DMRNet of depth 6b+2; ``mode`` picks merge-and-run or one of the paper's ablations
    (``"identity"``: K independent streams; ``"inception_like"``: one stream, K branches)."""
    b = check.depth("depth", depth, multiple=6, offset=2, examples=(26, 32, 50, 56))
    check.streams("streams", streams)
    widen = check.positive_int("widen", widen)
    width = check.positive_int("width", width)
    check.choice("mode", mode, MODES)
    inputs, x = model_input(input_shape, STAGES - 1, input_normalization)
    x = conv_stem(x, width * widen)
    for s in range(STAGES):
        for u in range(b):
            x = MergeAndRunBlock(
                width * widen * 2**s,
                streams=streams,
                strides=2 if s > 0 and u == 0 else 1,
                mode=mode,
                final=s == STAGES - 1 and u == b - 1,
                name=f"stage{s + 1}_block{u + 1}",
            )(x)
    outputs = classifier_head(x, num_classes, classifier_activation=classifier_activation)
    return keras.Model(inputs, outputs, name=name or f"dmrnet{depth}")


_PAPER = "Zhao, Wang et al., Deep Convolutional Neural Networks with Merge-and-Run Mappings, IJCAI 2018"
register_model("dmrnet56", dmrnet, family="dmrnet", paper=_PAPER, reference_params=1_700_000,
               depth=56, description="DMRNet-56: 2 streams, b = 9 blocks per stage.")
register_model("dmrnet_wide32", dmrnet, family="dmrnet", paper=_PAPER,
               reference_params=14_900_000, depth=32, widen=4,
               description="DMRNet-Wide-32: 2 streams, widen 4, b = 5 blocks per stage.")
register_model("dmrnet20", dmrnet, family="dmrnet", paper=_PAPER, depth=20,
               description="A small DMRNet (b = 3) for quick experiments.")
# the paper's two ablations of the merge-and-run block, as the merge_and_run study trains them
register_model("dmrnet20_identity", dmrnet, family="dmrnet", paper=_PAPER, depth=20,
               mode="identity",
               description="DMRNet-20's ablation: the same two streams, never merged.")
register_model("dmrnet20_inception_like", dmrnet, family="dmrnet", paper=_PAPER, depth=20,
               mode="inception_like",
               description="DMRNet-20's ablation: two branches summed into one stream.")
