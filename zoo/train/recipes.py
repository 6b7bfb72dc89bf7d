"""Named training recipes: the papers' settings, plus small ones for demos and CI.

Weight decay is meant as the papers' code meant it: an L2 penalty ``wd/2 * ||w||^2`` on every
trainable parameter, whose gradient ``wd * w`` is added to the loss gradient *before* the
momentum update (Torch/PyTorch ``weight_decay``). Keras's own ``weight_decay`` argument is
decoupled (AdamW-style), which with momentum 0.9 decays about 10x less; see
:class:`zoo.train.optimizers.L2SGD`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class Recipe:
    name: str
    description: str
    optimizer: str  # "sgd" | "adam"
    learning_rate: float
    batch_size: int
    epochs: int
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0  # coupled L2, see module docstring
    milestones: tuple = ()  # fractions of training at which the lr is multiplied by `gamma`
    gamma: float = 0.1
    projection_probability: float = 0.5  # for models with NormPreservingConv2D layers
    source: str = ""

    def to_dict(self):
        return asdict(self)

    def with_overrides(self, **overrides):
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


RECIPES = {
    r.name: r
    for r in [
        Recipe("he2016", "He et al. 2016 CIFAR ResNets: SGD, lr 0.1 /10 at 50% and 75%",
               "sgd", 0.1, 128, 164, momentum=0.9, weight_decay=1e-4, milestones=(0.5, 0.75),
               source="He et al., CVPR 2016, sec. 4.2 (64k iterations ~ 164 epochs)"),
        Recipe("dmrnet", "DMRNet: Nesterov SGD, batch 64, lr 0.1 /10 at 1/2, 3/4, 7/8",
               "sgd", 0.1, 64, 400, momentum=0.9, nesterov=True, weight_decay=1e-4,
               milestones=(0.5, 0.75, 0.875), source="Zhao, Wang et al., IJCAI 2018"),
        Recipe("procresnet", "ProcResNet: SGD, batch 128, lr 0.1 x0.1 at 150 and 225 of 300",
               "sgd", 0.1, 128, 300, momentum=0.9, weight_decay=1e-4, milestones=(0.5, 0.75),
               projection_probability=0.5, source="Zaeemzadeh et al., TPAMI 2021"),
        Recipe("zoo", "residual-zoo's pretrained MNIST-size models: Adam, lr /10 at 50%, 75%",
               "adam", 2e-3, 128, 4, milestones=(0.5, 0.75),
               source="residual-zoo (chosen to train on 2 CPU cores in minutes)"),
        Recipe("quick", "A few epochs of Adam for demos, tests and CI", "adam", 2e-3, 128, 3,
               milestones=(0.67,), source="residual-zoo"),
    ]
}


def get_recipe(name) -> Recipe:
    if isinstance(name, Recipe):
        return name
    if name not in RECIPES:
        raise ValueError(f"recipe must be one of {', '.join(map(repr, RECIPES))}, got {name!r}")
    return RECIPES[name]
