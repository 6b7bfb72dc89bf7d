"""Architecture grids: named, ordered lists of points (builder arguments + optimizer settings).

``seed000`` is residual-zoo's reconstruction of the 6,912-point grid of Bermeitinger et al.
(KDIR 2023): 2 datasets x 3,456 networks and optimizer settings. A search runs one dataset, so
it sees 3,456 points. A point is a plain dict; its index in ``points(grid, dataset)`` is
stable, which is what makes sampling, sharding and resuming exact.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from zoo import validation as check


@dataclass(frozen=True)
class Grid:
    name: str
    description: str
    # the registry's builder of the grid's nets (zoo.registry.get_builder); "resnet_layout":
    # resnet or parallel_resnet, as the point's layout says
    model: str
    axes: dict  # axis -> values; dataset, learning_rate and batch_size are optimizer/data axes
    fixed: dict = field(default_factory=dict)
    # data sets a grid may also run on: the embedded digits (tests), and Fashion-MNIST where
    # CIFAR-10 cannot be had (it stands in for CIFAR-10 in the reproductions)
    stand_ins: tuple = ("fashion_mnist", "digits")
    # a grid that reconstructs a paper's table: (dataset, layout) -> the paper's mean
    # (train loss, validation loss) per Q bin (Q<1, 1-3, 3-10, >=10), shown beside ours
    reference: dict = field(default_factory=dict)

    @property
    def datasets(self) -> tuple:
        return tuple(self.axes["dataset"])

    def size(self, dataset=None) -> int:
        n = int(np.prod([len(v) for k, v in self.axes.items() if k != "dataset"]))
        return n if dataset is not None else n * len(self.datasets)

    def points(self, dataset) -> list[dict]:
        """Every point for ``dataset``, in a fixed order (the last axis varies fastest)."""
        check.choice("dataset", dataset,
                     tuple(dict.fromkeys(self.datasets + self.stand_ins)))
        names = [k for k in self.axes if k != "dataset"]
        return [
            {"dataset": dataset, **self.fixed, **dict(zip(names, values))}
            for values in itertools.product(*(self.axes[k] for k in names))
        ]


# Bermeitinger et al. (KDIR 2023), Table 2: mean (train loss, validation loss) by dataset,
# layout and Q bin (Q<1, 1-3, 3-10, >=10)
PAPER_TABLE2 = {
    ("mnist", "sequential"): [(0.00013, 0.05201), (0.01702, 0.12449), (0.03620, 0.11743),
                              (0.11246, 0.13550)],
    ("mnist", "parallel"): [(0.00009, 0.07551), (0.02679, 0.11468), (0.05238, 0.11467),
                            (0.13310, 0.14900)],
    ("cifar10", "sequential"): [(0.25326, 2.03107), (0.72510, 1.31691), (1.07333, 1.34721),
                                (1.58608, 1.65354)],
    ("cifar10", "parallel"): [(0.52658, 1.32386), (0.88701, 1.24884), (1.17085, 1.34227),
                              (1.63449, 1.68879)],
}


BUILDER_AXES = ("learning_rate", "batch_size", "dataset")  # the rest go to the builder

GRIDS = {
    g.name: g
    for g in [
        Grid(
            "seed000",
            "Bermeitinger et al.'s sequential-vs-parallel grid (our reconstruction)",
            "shallow_stack",
            {
                "dataset": ("mnist", "cifar10"),
                "layout": ("sequential", "parallel"),
                "layers": (2, 4, 8),
                "filters": (16, 32, 64),
                "kernel_size": (3, 5, 7),
                "activation": ("relu", "tanh"),
                "batch_norm": (False, True),
                "downsample": ("none", "maxpool"),
                "head": ("gap", "flatten"),
                "learning_rate": (1e-3, 3e-3),
                "batch_size": (64, 256),
            },
            reference=PAPER_TABLE2,
        ),
        Grid(
            "smoke",
            "4 small seed000-style points for trying the machinery in seconds",
            "shallow_stack",
            {
                "dataset": ("mnist", "fashion_mnist", "digits"),
                "layout": ("sequential", "parallel"),
                "layers": (1, 2),
                "filters": (8,),
                "kernel_size": (3,),
                "activation": ("relu",),
                "learning_rate": (3e-3,),
                "batch_size": (64,),
            },
        ),
        Grid(
            "resnet",
            "CIFAR ResNets: depth x width x layout (sequential vs parallel twin)",
            "resnet_layout",
            {
                "dataset": ("cifar10", "mnist", "fashion_mnist"),
                "depth": (20, 32, 44, 56),
                "width": (8, 16),
                "layout": ("sequential", "parallel"),
                "learning_rate": (1e-3,),
                "batch_size": (128,),
            },
        ),
        Grid(
            "dmrnet",
            "DMRNet: depth x streams x mode (merge-and-run and its two ablations)",
            "dmrnet",
            {
                "dataset": ("cifar10", "mnist", "fashion_mnist"),
                "depth": (20, 26, 32),
                "streams": (2, 3, 4),
                "mode": ("merge_and_run", "identity", "inception_like"),
                "learning_rate": (1e-3,),
                "batch_size": (128,),
            },
        ),
        Grid(
            "procresnet",
            "ProcResNet: depth x projection on/off",
            "procresnet",
            {
                "dataset": ("cifar10", "mnist", "fashion_mnist"),
                "depth": (22, 31, 40, 58),
                "projection": (True, False),
                "learning_rate": (1e-3,),
                "batch_size": (128,),
            },
        ),
    ]
}


def get_grid(name) -> Grid:
    if isinstance(name, Grid):
        return name
    if name not in GRIDS:
        raise ValueError(f"grid must be one of {', '.join(map(repr, GRIDS))}, got {name!r}")
    return GRIDS[name]


def parse_shard(text) -> tuple[int, int]:
    """``"2/4"`` -> (2, 4): the second of four shards (1-based, as people count machines)."""
    try:
        i, n = (int(v) for v in str(text).split("/"))
    except ValueError:
        raise ValueError(f"shard must look like i/N (e.g. 2/4), got {text!r}") from None
    if not 1 <= i <= n:
        raise ValueError(f"shard i/N needs 1 <= i <= N, got {text!r}")
    return i, n


def select(n_points, *, sample=None, seed=0, shard=None) -> list[int]:
    """Indices of the points a search runs: all, or a seeded random ``sample`` of them
    (in random order), then every N-th of those for shard i/N."""
    indices = list(range(n_points))
    if sample is not None:
        sample = check.positive_int("sample", sample)
        if sample < n_points:
            indices = [int(i) for i in np.random.default_rng(seed).permutation(n_points)[:sample]]
    if shard is not None:
        i, n = parse_shard(shard) if isinstance(shard, str) else shard
        indices = indices[i - 1::n]
    return indices
