"""Paper reproductions as data: ``zoo reproduce NAME --budget smoke|cpu|gpu``.

A study is one module: a declarative description (what to train, on which data, for how long,
how many seeds or pairs, per budget) with a ``run`` that the runner calls and a ``report``
that turns its results folder into tables, statistics, plots and verdicts computed from
declared claims. The contract (names, signatures) is written in :mod:`zoo.studies.base`.
Every study resumes where it stopped. Results go to ``results/<study>/<budget>/``, the exact
commands that succeeded to ``commands.sh`` inside that folder.

| study (old name) | paper |
|---|---|
| sequential_vs_parallel (seed000) | Bermeitinger et al., *Make Deep Networks Shallow Again* |
| merge_and_run (seed001) | Zhao, Wang et al., *Merge-and-Run Mappings* (DMRNet vs ResNet) |
| ensemble_view (seed002) | Veit et al., *Ensembles of Relatively Shallow Networks* (lesions) |
| norm_preservation (seed003) | Zaeemzadeh et al., *Norm-Preservation* (ProcResNet) |
"""

from zoo.studies.runner import ALIASES, STUDIES, get_study, list_studies, reproduce, study_name

__all__ = ["ALIASES", "STUDIES", "get_study", "list_studies", "reproduce", "study_name"]
