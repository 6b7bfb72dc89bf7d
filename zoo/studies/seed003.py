"""seed003: norm preservation and the Procrustes ResNet (Zaeemzadeh, Rahnavard, Shah, TPAMI
2021; PAPERS §4).

Design, two parts on one dataset:

- ``ratios``: for each family -- pre-activation ResNet, plain (no skips), ProcResNet with and
  without the projection -- at four depths (the paper's 164/166-layer scale and three
  shallower), the gradient-norm ratio ``||dE/dx_in|| / ||dE/dx_out||`` of every block between
  the first and the last unit (:func:`zoo.analysis.norms.block_norm_ratios`), on a fixed
  seeded set of test images, at initialization and again after one epoch of training from
  that same initialization. A block with ratio 1 preserves the norm; ``|log ratio|`` is how
  far it is from that, set against the paper's ``delta ~ log(2L)/L``. Batch normalization
  uses the measured batch's statistics, as in the training step where the paper measures
  (an untrained net's moving averages would make every deep ResNet's gradient exactly 0).
- ``accuracy``: ProcResNet with and without the projection, trained with one recipe from the
  same seeds; test accuracy by an evaluation pass, paired by seed.

Every ratio measurement is appended to ``<out>/<dataset>/records.jsonl`` under its key; every
training run is a ``zoo.train.fit`` run folder. A killed run resumes where it stopped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from math import log
from pathlib import Path

import numpy as np
import pandas as pd

from zoo.studies.runner import markdown

TITLE = "Norm preservation and the Procrustes ResNet (Zaeemzadeh et al., TPAMI 2021)"
CLAIM = ("Identity skips keep the gradient norm nearly constant through a unit (delta shrinking "
         "like log(2L)/L), transitions break it, and projecting the transitions onto "
         "norm-preserving operators (ProcResNet) makes the network more accurate.")
# CIFAR-10 test error (%), PAPERS §4
PAPER = {"resnet164_error": 5.46, "procresnet166_error": 4.75, "resnet272_error": 4.73,
         "procresnet274_error": 4.20, "delta": "c * log(2L) / L"}
FAMILIES = ("resnet", "plain", "procresnet", "procresnet_noproj")


@dataclass(frozen=True)
class Budget:
    datasets: tuple
    units_per_stage: dict = field(hash=False)  # family -> units per stage, one per depth
    ratio_examples: int = 256  # test images the ratios are measured on
    ratio_recipe: str = "procresnet"
    ratio_train_examples: int | None = None  # the one epoch of training before "trained"
    accuracy_model: str = "procresnet22"  # and its _noproj twin
    accuracy_recipe: str = "procresnet"
    accuracy_epochs: int = 4
    accuracy_train_examples: int | None = None
    seeds: tuple = (0, 1, 2)
    seed: int = 0

    def describe(self) -> str:
        depths = ", ".join(f"{f} {'/'.join(map(str, depths_of(f, self)))}"
                           for f in self.units_per_stage)
        n = "all" if self.ratio_train_examples is None else f"{self.ratio_train_examples:,}"
        m = "all" if self.accuracy_train_examples is None else \
            f"{self.accuracy_train_examples:,}"
        return (f"{'/'.join(self.datasets)}: ratios of {depths} on {self.ratio_examples} test "
                f"images, at initialization and after 1 epoch of {n} images; "
                f"{self.accuracy_model} with vs without projection, {m} images x "
                f"{self.accuracy_epochs} epochs, seeds {', '.join(map(str, self.seeds))}")


def depths_of(family, budget) -> list[int]:
    per = 9 if family.startswith("procresnet") else 6
    offset = 4 if family.startswith("procresnet") else 2
    return [per * n + offset for n in budget.units_per_stage[family]]


BUDGETS = {
    # CI: two small depths of each family on the embedded digits (under a minute)
    "smoke": Budget(("digits",), {"resnet": (1, 2), "plain": (1, 2), "procresnet": (1,),
                                   "procresnet_noproj": (1,)},
                    ratio_examples=64, ratio_recipe="quick", accuracy_model="procresnet22",
                    accuracy_recipe="quick", accuracy_epochs=1, seeds=(0, 1)),
    # 2 CPU cores: depths 20/56/110/164 (ResNet, plain) and 22/58/112/166 (ProcResNet);
    # one epoch of 10,000 Fashion-MNIST images between the two measurements; ProcResNet-22
    # with vs without projection, 20,000 images x 4 epochs, 3 seeds
    "cpu": Budget(("fashion_mnist",), {"resnet": (3, 9, 18, 27), "plain": (3, 9, 18, 27),
                                        "procresnet": (2, 6, 12, 18),
                                        "procresnet_noproj": (2, 6, 12, 18)},
                  ratio_train_examples=10_000, accuracy_train_examples=20_000),
    # one H100/H200 (JAX), in stages: the full train split, ProcResNet-166, 5 seeds
    "gpu": Budget(("fashion_mnist",), {"resnet": (3, 9, 18, 27), "plain": (3, 9, 18, 27),
                                        "procresnet": (2, 6, 12, 18),
                                        "procresnet_noproj": (2, 6, 12, 18)},
                  ratio_examples=1024, accuracy_model="procresnet166", accuracy_epochs=30,
                  seeds=(0, 1, 2, 3, 4)),
}


def _build(family, n, dataset, seed):
    import keras

    from zoo.analysis.norms import _build as build
    from zoo.data import dataset_info

    info = dataset_info(dataset)
    keras.utils.set_random_seed(seed)
    return build(family, n, info.shape, info.num_classes, dataset)


def _ratio_items(budget: Budget):
    for family, ns in budget.units_per_stage.items():
        for n in ns:
            for phase in ("init", "trained"):
                yield f"ratios/{family}/{n}/{phase}", family, n, phase


def _accuracy_runs(budget: Budget):
    for seed in budget.seeds:
        for projection in (True, False):
            yield seed, budget.accuracy_model + ("" if projection else "_noproj")


def run(budget: Budget, out: Path, *, time_limit=None, stream=None) -> bool:
    import time

    from zoo.analysis.norms import block_norm_ratios
    from zoo.data import load
    from zoo.progress import Progress
    from zoo.studies import runs
    from zoo.studies.records import Records
    from zoo.train import TrainingDiverged

    started = time.monotonic()
    logs = {d: Records(out / d / "records.jsonl") for d in budget.datasets}
    items = [(d, *item) for d in budget.datasets for item in _ratio_items(budget)]
    accuracy = [(d, *r) for d in budget.datasets for r in _accuracy_runs(budget)]
    done = sum(item[1] in logs[item[0]] for item in items) + \
        sum(runs.finished(out / d / "accuracy" / m / f"seed-{s}") for d, s, m in accuracy)
    progress = Progress(len(items) + len(accuracy), done=done, label="items", stream=stream)

    def out_of_time():
        return time_limit is not None and time.monotonic() - started > time_limit

    try:
        for dataset, key, family, n, phase in items:
            log_ = logs[dataset]
            if key in log_:
                continue
            if out_of_time():
                return False
            x, y = load(dataset, "test", normalize=None, subset=budget.ratio_examples,
                        seed=budget.seed)
            depth, model = _build(family, n, dataset, budget.seed)
            values = {"family": family, "n": n, "depth": depth, "phase": phase}
            if phase == "trained":
                try:
                    model = runs.train(out / dataset / "ratios" / f"{family}-{depth}", model,
                                       dataset,
                                       recipe=budget.ratio_recipe, epochs=1, seed=budget.seed,
                                       subset=budget.ratio_train_examples, stream=stream)
                except TrainingDiverged as e:
                    log_.add(key, kind="ratios", **values, diverged=str(e), blocks=[])
                    progress.update(failed=True, detail=f"{dataset}: {key} diverged")
                    continue
            log_.add(key, kind="ratios", **values, diverged=None,
                     blocks=block_norm_ratios(model, x, y))
            progress.update(detail=f"{dataset}: {key}")
        for dataset, seed, name in accuracy:
            folder = out / dataset / "accuracy" / name / f"seed-{seed}"
            if runs.finished(folder):
                continue
            if out_of_time():
                return False
            runs.train(folder, name, dataset, recipe=budget.accuracy_recipe,
                       epochs=budget.accuracy_epochs, seed=seed,
                       subset=budget.accuracy_train_examples, stream=stream)
            progress.update(detail=f"{dataset}: {name} seed {seed}: test accuracy "
                                   f"{runs.read(folder)['test_accuracy']:.4f}")
    finally:
        progress.close()
    return True


# ---------------------------------------------------------------------------------------
# reporting


def ratio_frame(out: Path, budget: Budget) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per measured block, and one row per (family, depth, phase) that diverged."""
    from zoo.studies.records import Records

    rows, diverged = [], []
    for dataset in budget.datasets:
        for r in Records(out / dataset / "records.jsonl").of("ratios"):
            head = {"dataset": dataset, "family": r["family"], "depth": r["depth"],
                    "phase": r["phase"]}
            if r.get("diverged"):
                diverged.append({**head, "message": r["diverged"]})
            for position, block in enumerate(r["blocks"]):
                rows.append({**head, "position": position, **block})
    columns = ["dataset", "family", "depth", "phase", "position", "block", "kind",
               "transition", "ratio"]
    return pd.DataFrame(rows, columns=columns), \
        pd.DataFrame(diverged, columns=["dataset", "family", "depth", "phase", "message"])


def ratio_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, family, depth, phase and block type: how far the ratios are from 1
    (mean and max ``|log ratio|``) beside the paper's ``log(2L)/L`` with L the identity
    blocks of that network."""
    cols = ["dataset", "family", "depth", "phase", "blocks", "identity_blocks", "type",
            "mean_ratio", "mean_abs_log_ratio", "max_abs_log_ratio", "log2L_over_L"]
    if frame.empty:
        return pd.DataFrame(columns=cols)
    frame = frame.assign(dev=np.abs(np.log(frame["ratio"])),
                         type=np.where(frame["transition"], "transition", "identity"))
    identity = (frame[~frame["transition"]].groupby(["dataset", "family", "depth", "phase"])
                .size().rename("identity_blocks"))
    out = (frame.groupby(["dataset", "family", "depth", "phase", "type"])
           .agg(blocks=("ratio", "size"), mean_ratio=("ratio", "mean"),
                mean_abs_log_ratio=("dev", "mean"), max_abs_log_ratio=("dev", "max"))
           .reset_index().join(identity, on=["dataset", "family", "depth", "phase"]))
    out["identity_blocks"] = out["identity_blocks"].fillna(0).astype(int)
    out["log2L_over_L"] = [log(2 * n) / n if n else np.nan for n in out["identity_blocks"]]
    return out[cols]


def accuracy_frame(out: Path, budget: Budget) -> pd.DataFrame:
    from zoo.studies import runs

    rows = []
    for dataset in budget.datasets:
        for seed, name in _accuracy_runs(budget):
            folder = out / dataset / "accuracy" / name / f"seed-{seed}"
            if runs.finished(folder):
                rows.append({"dataset": dataset, "model": name, "projection":
                             not name.endswith("_noproj"), "seed": seed, **runs.read(folder)})
    return pd.DataFrame(rows, columns=["dataset", "model", "projection", "seed", "params",
                                       "test_accuracy", "test_loss", "epochs",
                                       "seconds_per_epoch", "train_examples", "test_examples"])


def ratio_models_frame(out: Path, budget: Budget) -> pd.DataFrame:
    """Test accuracy of each net after its one epoch (did it learn at all?)."""
    from zoo.studies import runs

    rows = []
    for dataset in budget.datasets:
        for family in budget.units_per_stage:
            for depth in depths_of(family, budget):
                folder = out / dataset / "ratios" / f"{family}-{depth}"
                if runs.finished(folder):
                    r = runs.read(folder)
                    rows.append({"dataset": dataset, "family": family, "depth": depth,
                                 "params": r["params"], "test_accuracy": r["test_accuracy"],
                                 "test_loss": r["test_loss"],
                                 "seconds_per_epoch": r["seconds_per_epoch"]})
    return pd.DataFrame(rows, columns=["dataset", "family", "depth", "params", "test_accuracy",
                                       "test_loss", "seconds_per_epoch"])


def _paired_projection(acc: pd.DataFrame, alpha=0.05) -> dict:
    from scipy.stats import ttest_rel

    wide = acc.pivot_table(index="seed", columns="projection", values="test_accuracy").dropna()
    if wide.shape[1] < 2 or len(wide) < 2:
        return {}
    diff = wide[True] - wide[False]
    p = float(ttest_rel(wide[True], wide[False]).pvalue) if diff.std() > 0 else float("nan")
    verdict = ("the same difference at every seed (no spread to test)" if np.isnan(p) else
               "reproduced" if p < alpha and diff.mean() > 0 else
               "contradicted" if p < alpha else "not reproduced (no significant difference)")
    return {"seeds": int(len(diff)), "with_mean": float(wide[True].mean()),
            "with_std": float(wide[True].std()), "without_mean": float(wide[False].mean()),
            "without_std": float(wide[False].std()), "difference": float(diff.mean()),
            "projection_wins": int((diff > 0).sum()), "t_test_p": p, "verdict": verdict}


def headline(summary: pd.DataFrame, acc: pd.DataFrame) -> dict:
    """The numbers behind each claim, per dataset and phase, with verdicts."""
    out = {}
    for dataset in sorted(set(summary["dataset"]) | set(acc["dataset"])):
        h = {}
        s = summary[summary["dataset"] == dataset]
        for phase in ("init", "trained"):
            p = s[s["phase"] == phase]
            ident = p[p["type"] == "identity"].set_index(["family", "depth"])["mean_abs_log_ratio"]
            trans = p[p["type"] == "transition"].set_index(["family", "depth"])[
                "mean_abs_log_ratio"]
            if ident.empty:
                continue
            fams = {f: {int(d): float(v) for (g, d), v in ident.items() if g == f}
                    for f in FAMILIES}
            claims = {}
            # identity units of a ResNet closer to norm-preserving than its transitions
            res_t = {int(d): float(v) for (g, d), v in trans.items() if g == "resnet"}
            if fams["resnet"] and res_t:
                better = [fams["resnet"][d] < res_t[d] for d in res_t if d in fams["resnet"]]
                claims["identity_vs_transition"] = {
                    "resnet_identity": fams["resnet"], "resnet_transition": res_t,
                    "verdict": "reproduced" if all(better) else
                               "partly" if any(better) else "not"}
            # skips preserve the norm better than no skips, at every depth
            common = sorted(set(fams["resnet"]) & set(fams["plain"]))
            if common:
                closer = [fams["resnet"][d] < fams["plain"][d] for d in common]
                claims["skips_vs_plain"] = {
                    "depths": common, "verdict": "reproduced" if all(closer) else
                    "contradicted" if not any(closer) else "partly"}
            # delta shrinks with depth (for the ResNet), like log(2L)/L
            depths = sorted(fams["resnet"])
            if len(depths) >= 3:
                from scipy.stats import spearmanr

                rho = float(spearmanr(depths, [fams["resnet"][d] for d in depths]).statistic)
                plain = sorted(fams["plain"])
                rho_plain = float(spearmanr(plain, [fams["plain"][d] for d in plain]).statistic) \
                    if len(plain) >= 3 else None
                # how fast: the exponent b of mean |log ratio| ~ L^b over the identity
                # blocks L, beside the same fit of the bound log(2L)/L at those L
                blocks = p[p["type"] == "identity"].set_index(["family", "depth"])[
                    "identity_blocks"]
                big_l = np.log([blocks[("resnet", d)] for d in depths])
                exponent = bound = None
                if np.ptp(big_l) > 0:
                    exponent = float(np.polyfit(
                        big_l, np.log([fams["resnet"][d] for d in depths]), 1)[0])
                    bound = float(np.polyfit(big_l, np.log(np.log(2 * np.exp(big_l)) /
                                                           np.exp(big_l)), 1)[0])
                claims["delta_shrinks_with_depth"] = {
                    "spearman_resnet": rho, "spearman_plain": rho_plain,
                    "exponent_resnet": exponent, "exponent_log2L_over_L": bound,
                    "verdict": "reproduced" if rho <= -0.8 and not
                    (rho_plain is not None and rho_plain <= -0.8) else
                    "partly (plain nets shrink too)" if rho <= -0.8 else "not"}
            # the projection makes ProcResNet's transitions norm-preserving
            pt = {int(d): float(v) for (g, d), v in trans.items() if g == "procresnet"}
            nt = {int(d): float(v) for (g, d), v in trans.items() if g == "procresnet_noproj"}
            both = sorted(set(pt) & set(nt))
            if both and phase == "trained":
                closer = [pt[d] < nt[d] for d in both]
                claims["projection_transitions"] = {
                    "with": pt, "without": nt, "verdict": "reproduced" if all(closer) else
                    "partly" if any(closer) else "not"}
            h[phase] = {"mean_abs_log_ratio_identity": fams, **claims}
        a = acc[acc["dataset"] == dataset]
        if not a.empty:
            h["accuracy"] = _paired_projection(a)
        out[dataset] = h
    return out


def conclusion(heads: dict) -> list[str]:
    lines = []
    for dataset, h in heads.items():
        for phase in ("init", "trained"):
            c = h.get(phase, {})
            when = "at initialization" if phase == "init" else "after one epoch"
            if "skips_vs_plain" in c:
                f = c["mean_abs_log_ratio_identity"]
                pairs = ", ".join(f"{d}: {f['resnet'][d]:.3f} vs {f['plain'][d]:.3f}"
                                  for d in c["skips_vs_plain"]["depths"])
                lines.append(f"{dataset} {when}: mean |log ratio| of identity blocks, ResNet vs "
                             f"plain, by depth: {pairs} -> skips preserve the norm better: "
                             f"{c['skips_vs_plain']['verdict']}.")
            if "delta_shrinks_with_depth" in c:
                d = c["delta_shrinks_with_depth"]
                plain = "n/a" if d["spearman_plain"] is None else f"{d['spearman_plain']:.2f}"
                rate = "" if d["exponent_resnet"] is None else (
                    f", falling like L^{d['exponent_resnet']:.2f} in the identity blocks L "
                    f"(log(2L)/L: L^{d['exponent_log2L_over_L']:.2f})")
                lines.append(f"{dataset} {when}: ResNet deviation against depth, Spearman "
                             f"{d['spearman_resnet']:.2f} (plain {plain}){rate} -> delta "
                             f"shrinks with depth: {d['verdict']}.")
            if "projection_transitions" in c:
                p = c["projection_transitions"]
                pairs = ", ".join(f"{d}: {p['with'][d]:.3f} vs {p['without'][d]:.3f}"
                                  for d in sorted(p["with"]) if d in p["without"])
                lines.append(f"{dataset} {when}: ProcResNet transition |log ratio| with vs "
                             f"without projection: {pairs} -> {p['verdict']}.")
        a = h.get("accuracy")
        if a:
            lines.append(
                f"{dataset}: ProcResNet test accuracy with projection "
                f"{100 * a['with_mean']:.2f} ± {100 * a['with_std']:.2f}%, without "
                f"{100 * a['without_mean']:.2f} ± {100 * a['without_std']:.2f}% ({a['seeds']} "
                f"seeds, projection ahead in {a['projection_wins']}, paired t-test p = "
                f"{a['t_test_p']:.3g}) -> {a['verdict']}.")
    return lines


def plot(summary: pd.DataFrame, frame: pd.DataFrame, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = [p for p in ("init", "trained") if (summary["phase"] == p).any()]
    fig, axes = plt.subplots(1, len(phases) + 1, figsize=(5.5 * (len(phases) + 1), 3.8),
                             squeeze=False)
    for ax, phase in zip(axes[0], phases):
        s = summary[(summary["phase"] == phase) & (summary["type"] == "identity")]
        for family, part in s.groupby("family"):
            ax.plot(part["depth"], part["mean_abs_log_ratio"], "o-", label=family)
        ref = s[s["family"] == "resnet"]
        if not ref.empty:
            ax.plot(ref["depth"], ref["log2L_over_L"], "k--", label="log(2L)/L")
        ax.set(xlabel="depth", ylabel="mean |log ratio|, identity blocks", yscale="log",
               title=f"how far from norm-preserving ({phase})")
        ax.legend(fontsize=8)
    ax = axes[0][-1]
    deepest = frame[(frame["phase"] == phases[-1])] if phases else frame
    for family, part in deepest.groupby("family"):
        part = part[part["depth"] == part["depth"].max()]
        ax.plot(part["position"], part["ratio"], ".", label=f"{family}{part['depth'].max()}")
    ax.axhline(1, color="k", lw=0.8)
    ax.set(xlabel="block (input to output)", ylabel="||dE/dx_in|| / ||dE/dx_out||",
           yscale="log", title="every block of the deepest nets")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def report(out: Path, *, budget="cpu") -> dict:
    """ratios.csv, ratio_summary.csv, diverged.csv, accuracy.csv, summary.json, report.md and
    plots.png in ``out``."""
    from zoo.atomic import write_atomic, write_json

    out = Path(out)
    spec = BUDGETS[budget] if isinstance(budget, str) else budget
    frame, diverged = ratio_frame(out, spec)
    acc = accuracy_frame(out, spec)
    if frame.empty and acc.empty:
        raise ValueError(f"no measurements under {out}: run the study first")
    summary_t = ratio_summary(frame)
    one_epoch = ratio_models_frame(out, spec)
    for name, table in (("ratios", frame), ("ratio_summary", summary_t),
                        ("diverged", diverged), ("accuracy", acc), ("ratio_models", one_epoch)):
        write_atomic(out / f"{name}.csv", table.to_csv(index=False))
    heads = headline(summary_t, acc)
    settings = {**asdict(spec),
                "ratio_batch_normalization": "statistics of the measured images (training mode)"}
    summary = {"study": "seed003", "budget": budget if isinstance(budget, str) else "custom",
               "settings": settings, "paper": PAPER, "diverged": int(len(diverged)),
               "datasets": heads, "conclusion": conclusion(heads)}
    write_json(out / "summary.json", summary)
    if not frame.empty:
        plot(summary_t, frame, out / "plots.png")
    lines = [f"# seed003 ({summary['budget']}): {TITLE}", "", f"Budget: {spec.describe()}.", "",
             "## Conclusion (generated from the tables below)", "",
             *[f"- {line}" for line in summary["conclusion"]], "",
             "## How far each network is from norm-preserving", "", markdown(summary_t), "",
             "## Runs that diverged in their one epoch", "", markdown(diverged), "",
             "## Test accuracy after the one epoch", "", markdown(one_epoch), "",
             "## ProcResNet with vs without projection", "", markdown(acc), ""]
    write_atomic(out / "report.md", "\n".join(lines))
    return summary
