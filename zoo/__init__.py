"""residual-zoo: sequential, parallel, merge-and-run and norm-preserving residual networks
as plain Keras 3 models."""

__version__ = "0.1.0"

# models registers every named variant; train registers the optimizers saved in .keras files
from zoo import data, layers, models, train  # noqa: E402
from zoo.models import (  # noqa: E402
    dmrnet,
    parallel_resnet,
    plain,
    preresnet,
    procresnet,
    residual_units,
    resnet,
    shallow_stack,
)
from zoo.pretrained import list_pretrained, load_pretrained, pretrained_card  # noqa: E402
from zoo.registry import create_model, list_models, model_info  # noqa: E402

__all__ = [
    "__version__",
    "create_model",
    "data",
    "dmrnet",
    "layers",
    "list_models",
    "list_pretrained",
    "load_pretrained",
    "model_info",
    "models",
    "parallel_resnet",
    "plain",
    "preresnet",
    "pretrained_card",
    "procresnet",
    "residual_units",
    "resnet",
    "shallow_stack",
    "train",
]
