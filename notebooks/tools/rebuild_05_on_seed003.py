"""Rebuild notebooks/05_norm_preservation.ipynb on the seed003 study's committed results.

    python notebooks/tools/rebuild_05_on_seed003.py            # from the repository root
    cd notebooks && jupyter nbconvert --to notebook --execute --inplace 05_norm_preservation.ipynb

Run it once results/seed003/cpu/ is complete. It keeps the notebook's introduction, set-up and
the projection check on one kernel, and replaces the brief live comparison on digits by the
study's nets at the paper's depths, with the paper's figure, ours and a verdict per claim.
Arguments (for a test on other results): RESULTS (as the notebook sees it) and OUT.
"""
import sys

import nbformat

RESULTS = sys.argv[1] if len(sys.argv) > 1 else "../results/seed003/cpu"
OUT = sys.argv[2] if len(sys.argv) > 2 else "notebooks/05_norm_preservation.ipynb"
old = nbformat.read("notebooks/05_norm_preservation.ipynb", as_version=4)
intro, setup, check_md, check = old.cells[:4]
assert "project_kernel" in check.source, "notebook 05 changed: its cell 3 is not the kernel check"
md = nbformat.v4.new_markdown_cell
code = nbformat.v4.new_code_cell
cells = [intro, setup, check_md, check]
cells.append(md("""## The study: the paper's depths, trained here

`zoo reproduce seed003 --budget cpu` builds pre-activation ResNets and plain nets of depth
20/56/110/164 and ProcResNets with and without projection of depth 22/58/112/166 (their layout
is $9n+4$), and measures for every block the gradient-norm ratio
$\\|\\partial E/\\partial x_{\\text{in}}\\| / \\|\\partial E/\\partial x_{\\text{out}}\\|$ on
Fashion-MNIST test images (the stand-in for CIFAR-10) twice: at initialization and after one
epoch of 10,000 training images from that same initialization. $|\\log \\text{ratio}|$ is 0 for
a perfectly norm-preserving block; the paper's $\\delta$ bounds it. It then trains ProcResNet-22
with and without projection, 3 seeds each, 4 epochs of 20,000 images, for the accuracy claim.
The results are committed under `results/seed003/cpu/`; this notebook reads them and trains
nothing."""))
cells.append(code(f'''import json
from pathlib import Path

import pandas as pd

RESULTS = Path("{RESULTS}")
summary = json.loads((RESULTS / "summary.json").read_text())
ratios = pd.read_csv(RESULTS / "ratio_summary.csv")
accuracy = pd.read_csv(RESULTS / "accuracy.csv")
one_epoch = pd.read_csv(RESULTS / "ratio_models.csv")
(DATASET,) = summary["datasets"]
# ResNet/plain depths 20, 56, 110, 164 and ProcResNet's 22, 58, 112, 166 side by side
for frame in (ratios, one_epoch):
    frame["depths"] = frame.groupby("family")["depth"].rank(method="dense").astype(int).map(
        dict(enumerate(("20/22", "56/58", "110/112", "164/166"), 1)))
pd.set_option("display.precision", 3)
print(summary["settings"])'''))
cells.append(md("""Batch normalization uses the statistics of the measured images, as in the training
step where the paper measures its ratios. (With the moving averages of an untrained net --
mean 0, variance 1 -- it would do nothing: a pre-activation ResNet's activations double with
every unit, the softmax saturates and every gradient is exactly 0. An earlier version of this
study measured that way; `zoo reproduce seed003 --redo ratios/` measured again.)

What did one epoch of 10,000 images do to each net? Its test accuracy on the full test split:"""))
cells.append(code('''one_epoch.pivot_table(index="family", columns="depths", values="test_accuracy", sort=False)'''))
cells.append(md("""## Identity blocks against depth, beside $\\log(2L)/L$

Mean $|\\log \\text{ratio}|$ over each net's identity blocks (the units whose skip is the
identity; in the plain net the same positions without the skip). The paper's bound shrinks like
$\\log(2L)/L$ with the number of layers $L$ (dotted, scaled to the ResNet's first point): it
holds for the ResNet if its points fall with depth, and it is the *skip* that does it only if
the plain net's points do not."""))
cells.append(code('''FAMILIES = {"resnet": ("o-", "pre-activation ResNet"), "plain": ("x-", "plain (no skips)"),
            "procresnet": ("s-", "ProcResNet (projected)"),
            "procresnet_noproj": ("d--", "ProcResNet layout, no projection")}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
for ax, phase in zip(axes, ("init", "trained")):
    p = ratios[(ratios["dataset"] == DATASET) & (ratios["phase"] == phase)
               & (ratios["type"] == "identity")]
    for family, (style, label) in FAMILIES.items():
        f = p[p["family"] == family].sort_values("depth")
        ax.plot(f["depth"], f["mean_abs_log_ratio"], style, ms=5, label=label)
    r = p[p["family"] == "resnet"].sort_values("depth")
    bound = r["log2L_over_L"] * r["mean_abs_log_ratio"].iloc[0] / r["log2L_over_L"].iloc[0]
    ax.plot(r["depth"], bound, "k:", label="log(2L)/L (scaled)")
    ax.set(xscale="log", title=f"{DATASET}, {'at initialization' if phase == 'init' else 'after one epoch'}",
           xlabel="depth (layers)", ylabel="mean |log ratio|, identity blocks")
    ax.set_xticks([20, 56, 110, 164], ["20/22", "56/58", "110/112", "164/166"])
    ax.minorticks_off()
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8)
fig.tight_layout()
plt.show()
d = summary["datasets"][DATASET]
for phase in ("init", "trained"):
    c = d[phase]["delta_shrinks_with_depth"]
    print(f"{phase}: ResNet identity blocks' deviation ~ L^{c['exponent_resnet']:.2f}; "
          f"log(2L)/L over the same L ~ L^{c['exponent_log2L_over_L']:.2f}")
ratios[ratios["type"] == "identity"].pivot_table(
    index=["phase", "family"], columns="depths", values="mean_abs_log_ratio", sort=False)'''))
cells.append(md("""At initialization all four families' identity blocks move towards 1 with depth, the
plain net's only slightly (0.38 to 0.31); the ResNet lies closer to 1 than the plain net at
every depth, and after one epoch the contrast is stark: the ResNet keeps falling (0.35 to
0.07) while the plain net moves away from 1 (0.43 to 0.65; its 56-164-layer versions did not
learn at all in that epoch: 10% test accuracy, the degradation problem skips were invented
for). The paper's $\\delta \\sim c\\log(2L)/L$ falls like $L^{-0.73}$ over our nets' numbers of
identity blocks; our ResNet's deviation falls like $L^{-0.47}$ at initialization and
$L^{-0.66}$ after one epoch. The bound describes a network that *can* be that close to
norm-preserving; He initialization is not, and one epoch of training moves it most of the way
towards that rate. The study's rule calls the claim reproduced only where the plain net's
deviation does not shrink too: true after training, not at initialization."""))
cells.append(md("""## Transitions, and what the projection does to them

The transitions change the shape and have no identity skip. ProcResNet projects their
convolutions onto norm-preserving operators during training; its `_noproj` twin is the same
layout with the projection off."""))
cells.append(code('''t = ratios[(ratios["dataset"] == DATASET) & (ratios["type"] == "transition")]
t.pivot_table(index=["phase", "family"], columns="depths", values="mean_abs_log_ratio", sort=False)'''))
cells.append(md("""The ResNet's transitions get *worse* with depth: 0.10 to 1.11 at initialization and 0.39
to 1.65 after one epoch; their mean ratio (in `ratio_summary.csv`) falls from 0.68 to 0.19 after
training, so in ResNet-164 the gradient shrinks about five-fold at each transition. This is
the paper's point about transitions. (One exception: at initialization ResNet-20's transitions,
0.10, are closer to 1 than its identity blocks, 0.30, hence "partly" in the verdicts below;
from 56 layers on, and at every depth after one epoch, the transitions are the far ones.) ProcResNet's transitions are different blocks (a strided
1×1 convolution between the stages, not a residual unit), and are equally far from 1 at
every depth at initialization (0.33-0.34, the two twins share their initialization: the
projection only acts during training). After one epoch the projected ones are at 0.06-0.07 at
every depth, the unprojected ones at 0.50-0.53: the projection does what it is designed to do."""))
cells.append(md("""## Accuracy with and without the projection

The paper (CIFAR-10): ProcResNet-166 4.75% test error against ResNet-164's 5.46%. The study
trains ProcResNet-22 with and without projection on the same data, seeds and recipe, and tests
the paired difference."""))
cells.append(code('''a = summary["datasets"][DATASET]["accuracy"]
print(accuracy.pivot_table(index="seed", columns="model", values="test_accuracy"))
print(f"with projection {100 * a['with_mean']:.2f} ± {100 * a['with_std']:.2f}%, without "
      f"{100 * a['without_mean']:.2f} ± {100 * a['without_std']:.2f}% ({a['seeds']} seeds; "
      f"projection ahead in {a['projection_wins']}; paired t-test p = {a['t_test_p']:.3g})")
print("time per epoch (s):", accuracy.groupby("model")["seconds_per_epoch"].mean().round(1).to_dict())'''))
cells.append(md("""The projection is ahead at every seed, by 0.89 points on average (87.85% against 86.96%,
paired $t$-test $p = 0.02$ with 2 degrees of freedom), for 5% more time per epoch (the SVDs of
the transition kernels between steps). The paper's figure compares ProcResNet-166 with a
ResNet-164 on CIFAR-10 (4.75% against 5.46% error, 0.71 points); ours isolates the projection
(the same 22-layer layout, seeds and data, the projection on or off), at a budget far from
convergence (4 epochs of 20,000 images; the zoo's pretrained shallow nets reach 92.2-92.4% on
Fashion-MNIST after 10 epochs of all 60,000). So: the direction and size of the paper's gain are reproduced at this budget;
whether the gap survives full training, and at 166 layers, is what the `gpu` budget
(ProcResNet-166, 30 epochs, 5 seeds) would settle."""))
cells.append(md("""The seed-0 pair is published in the zoo: `procresnet22.seed003_fashion_mnist` and
`procresnet22_noproj.seed003_fashion_mnist`, with their cards. The study keeps no model files
for these runs (`commands.sh` retrains them), so the published pair is the seed-0 runs trained
again with the study's settings. TensorFlow on CPU does not repeat a training run bit for bit,
so each published model scores what its card says, close to but not exactly the committed run."""))
cells.append(code('''import zoo
from zoo.train import evaluate

seed0 = accuracy[accuracy["seed"] == 0].set_index("model")["test_accuracy"]
for model in ("procresnet22", "procresnet22_noproj"):
    name = f"{model}.seed003_{DATASET}"
    # evaluate(): the full test split, one compiled (XLA) pass
    measured = evaluate(zoo.load_pretrained(name), DATASET)["accuracy"]
    card = zoo.pretrained_card(name)["metrics"]["test_accuracy"]
    print(f"{name:42s} measured {measured:.4f} (card {card:.4f}); the committed seed-0 run "
          f"{seed0[model]:.4f}")
    assert abs(measured - card) < 1e-3'''))
cells.append(md("""## Verdicts

Each claim with the paper's statement, ours and the verdict the study computed from them."""))
cells.append(code('''h, paper = summary["datasets"][DATASET], summary["paper"]
rows = []
for phase in ("init", "trained"):
    c = h[phase]
    res, pla = c["mean_abs_log_ratio_identity"]["resnet"], c["mean_abs_log_ratio_identity"]["plain"]
    when = "at init" if phase == "init" else "after 1 epoch"
    it = c["identity_vs_transition"]
    rows.append({"claim": f"identity blocks closer to norm-preserving than transitions ({when})",
                 "paper": "identity: within 1 ± delta; transitions can break it",
                 "ours": "; ".join(f"{d}: {it['resnet_identity'][d]:.2f} vs {it['resnet_transition'][d]:.2f}"
                                   for d in it["resnet_transition"]),
                 "verdict": it["verdict"]})
    rows.append({"claim": f"skips preserve the norm better than no skips ({when})",
                 "paper": "ResNet closer to 1 than a plain net",
                 "ours": "; ".join(f"{d}: {res[d]:.2f} vs {pla[d]:.2f}" for d in res if d in pla),
                 "verdict": c["skips_vs_plain"]["verdict"]})
    if "delta_shrinks_with_depth" in c:
        s = c["delta_shrinks_with_depth"]
        rows.append({"claim": f"delta shrinks with depth ({when})", "paper": paper["delta"],
                     "ours": f"Spearman rho(depth, |log ratio|): ResNet {s['spearman_resnet']:.2f}, "
                             f"plain {s['spearman_plain']:.2f}",
                     "verdict": s["verdict"]})
    if "projection_transitions" in c:
        p = c["projection_transitions"]
        rows.append({"claim": "projection makes transitions norm-preserving",
                     "paper": "singular values 1 at the transitions",
                     "ours": "; ".join(f"{d}: {p['with'][d]:.3f} vs {p['without'][d]:.3f}" for d in p["with"]),
                     "verdict": p["verdict"]})
a = h["accuracy"]
rows.append({"claim": "projection improves accuracy",
             "paper": f"CIFAR-10 error {paper['procresnet166_error']}% vs {paper['resnet164_error']}%",
             "ours": f"{100 * a['with_mean']:.2f}% vs {100 * a['without_mean']:.2f}% (p = {a['t_test_p']:.2g})",
             "verdict": a["verdict"]})
with pd.option_context("display.max_colwidth", 90, "display.width", 250):
    print(pd.DataFrame(rows).to_string(index=False))'''))
cells.append(md("## What we saw"))
cells.append(code('''for line in summary["conclusion"]:
    print("-", line)'''))
nb = nbformat.v4.new_notebook(cells=cells, metadata=old.metadata)
nbformat.write(nb, OUT)
print("wrote", OUT)
