"""Rebuild notebooks/03_merge_and_run.ipynb on the seed001 study's committed results.

    python notebooks/tools/rebuild_03_on_seed001.py            # from the repository root
    cd notebooks && jupyter nbconvert --to notebook --execute --inplace 03_merge_and_run.ipynb

Run it once results/seed001/cpu/ is complete. It keeps the introduction, set-up, the merge
matrix, the path lengths and the parameter counts, and replaces the live comparison on the
embedded digits by the study's equal-parameter comparison, with the paper's figure, ours and a
verdict per claim. Arguments (for a test on other results): RESULTS (as the notebook sees it)
and OUT.
"""
import sys

import nbformat

RESULTS = sys.argv[1] if len(sys.argv) > 1 else "../results/seed001/cpu"
OUT = sys.argv[2] if len(sys.argv) > 2 else "notebooks/03_merge_and_run.ipynb"
old = nbformat.read("notebooks/03_merge_and_run.ipynb", as_version=4)
kept = old.cells[:7]
assert "trainable(zoo.dmrnet" in kept[6].source, "notebook 03 changed: cell 6 is not the counts"
md = nbformat.v4.new_markdown_cell
code = nbformat.v4.new_code_cell
cells = list(kept)
cells.append(md("""## The study: DMRNet against a ResNet of the same size

The paper compares DMRNet-56 with ResNet-110 (both 1.7M parameters; CIFAR-10 error 4.94% vs
6.43%). `zoo reproduce seed001 --budget cpu` does the same at a size two CPU cores can train:
DMRNet-20 against ResNet-38, whose parameter count is within 5% of it, plus the paper's two
ablations (`identity`: two independent streams; `inception_like`: one stream with both
branches), which have the same blocks wired differently. All four train with the paper's recipe
(Nesterov SGD, batch 64, lr 0.1 /10 at 1/2, 3/4 and 7/8) shortened to 4 epochs of 20,000
Fashion-MNIST images (the stand-in for CIFAR-10) without the paper's crops and flips, on the
same data and seeds, so the differences are paired by seed. The results are committed under `results/seed001/cpu/`; this notebook reads
them and trains nothing."""))
cells.append(code(f'''import json
from pathlib import Path

import pandas as pd

RESULTS = Path("{RESULTS}")
summary = json.loads((RESULTS / "summary.json").read_text())
runs = pd.read_csv(RESULTS / "runs.csv")
table = pd.read_csv(RESULTS / "summary.csv")
paired = pd.read_csv(RESULTS / "paired.csv")
(DATASET,) = summary["settings"]["datasets"]
RESNET = next(m for m in table["model"] if m.startswith("resnet"))
pd.set_option("display.precision", 4)
print(summary["settings"])
table[["model", "params", "params_vs_dmrnet", "seeds", "accuracy_mean", "accuracy_std",
       "loss_mean", "seconds_per_epoch"]]'''))
cells.append(code('''fig, ax = plt.subplots(figsize=(7, 3.4))
order = ["dmrnet", RESNET, "identity", "inception_like"]
for seed, r in runs.groupby("seed"):
    r = r.set_index("model").loc[order]
    ax.plot(range(len(order)), 100 * r["test_accuracy"], "o-", alpha=0.7, label=f"seed {seed}")
ax.set_xticks(range(len(order)), order)
ax.set(ylabel="test accuracy (%)", title=f"{DATASET}: each seed's four networks (same data)")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()'''))
cells.append(md("""The seed-0 network of each model is published in the zoo under the tag
`seed001_fashion_mnist` (`dmrnet20`, `resnet38`, `dmrnet20_identity`, `dmrnet20_inception_like`),
with its card. Re-measured on the full test split, each gives its committed accuracy back."""))
cells.append(code('''from zoo.train import evaluate

PUBLISHED = {"dmrnet": "dmrnet20", RESNET: RESNET, "identity": "dmrnet20_identity",
             "inception_like": "dmrnet20_inception_like"}
seed0 = runs[runs["seed"] == 0].set_index("model")
for model, registered in PUBLISHED.items():
    name = f"{registered}.seed001_{DATASET}"
    # evaluate(): the full test split, one compiled (XLA) pass
    measured = evaluate(zoo.load_pretrained(name), DATASET)["accuracy"]
    committed = seed0.loc[model, "test_accuracy"]
    print(f"{name:45s} measured {measured:.4f}, committed (seed 0) {committed:.4f}")
    assert abs(measured - committed) < 1e-3'''))
cells.append(md("""## Verdicts

Paired over seeds: the mean difference in test accuracy (DMRNet minus the other), how many
seeds DMRNet wins, and a paired t-test. The paper claims DMRNet is the more accurate; the
verdict on that claim is **reproduced** when DMRNet is ahead with $p < 0.05$, **partly** when
it is ahead at every seed but $p \\ge 0.05$, **not** when there is no significant difference
and DMRNet is not ahead at every seed, and **contradicted** when it is behind with
$p < 0.05$. With three seeds only a difference that is large beside its spread across seeds
can reach $p < 0.05$."""))
cells.append(code('''paper = summary["paper"]
claims = {RESNET: ("DMRNet beats a ResNet with the same parameters",
                   f"CIFAR-10 error {paper['dmrnet56_error']}% (DMRNet-56) vs "
                   f"{paper['resnet110_error']}% (ResNet-110), 1.7M parameters each"),
          "identity": ("merging beats independent streams (identity ablation)",
                       "merge-and-run more accurate than the identity ablation"),
          "inception_like": ("two streams beat one wide stream (inception-like ablation)",
                             "merge-and-run more accurate than the inception-like ablation")}
rows = []
for _, p in paired.iterrows():
    claim, theirs = claims[p["against"]]
    rows.append({"claim": claim, "paper": theirs,
                 "ours": f"{100 * p['accuracy_difference']:+.2f} pt (std {100 * p['difference_std']:.2f}), "
                         f"DMRNet ahead in {p['dmrnet_wins']}/{p['seeds']}, p = {p['t_test_p']:.2g}: "
                         f"{p['finding']}",
                 "verdict": p["verdict"]})
with pd.option_context("display.max_colwidth", 90, "display.width", 250):
    print(pd.DataFrame(rows).to_string(index=False))
t = table.set_index("model")["seconds_per_epoch"]
print(f"time per epoch: DMRNet {t['dmrnet']:.0f} s, {RESNET} {t[RESNET]:.0f} s "
      f"({t['dmrnet'] / t[RESNET]:.2f}x)")'''))
cells.append(md("""## Where ours differs, and why

- **DMRNet beats the ResNet of the same size: reproduced.** DMRNet-20 is 1.66 points ahead of
  ResNet-38 (90.75 ± 0.42% against 89.10 ± 0.97%), at all 3 seeds, paired t-test $p = 0.039$,
  with the lower test loss (0.258 against 0.297). The paper's gap is 1.49 points of CIFAR-10
  error (4.94% against 6.43%).
- **But the merge is not what wins here: the identity ablation is not beaten (not
  reproduced).** The same two streams, merged only at the end, reach 90.87 ± 0.15%: DMRNet is
  0.12 points *behind* on average and ahead at 1 of 3 seeds ($p = 0.63$). At this budget
  DMRNet's lead over ResNet-38 comes from what both two-stream nets share: two streams of 20
  layers instead of one of 38, which 4 short epochs train further. The paper's case for the
  merge is shorter paths in a deep net (2/3 against 2 per pair of blocks, above); DMRNet-20 has
  only 9 blocks, whose paths are short anyway, and 80,000 images seen is far from the paper's
  400 epochs. Whether the merge pays at DMRNet-56's depth is what the `gpu` budget
  (DMRNet-56 against ResNet-110, 60 epochs, 5 seeds) is for; these results do not say.
- **Two streams beat one stream with two branches (inception-like): partly.** DMRNet is ahead
  at all 3 seeds by 0.94 points ($p = 0.051$): the right direction at every seed, just short of
  the 5% level with three seeds.
- **Time per epoch** on 2 CPU cores: DMRNet 148 s against ResNet-38's 157 s (0.94×). The
  seed-0 runs shared the CPU with other work; the undisturbed seed-2 runs took 115 s against
  126 s."""))
cells.append(md("## What we saw"))
cells.append(code('''for line in summary["conclusion"]:
    print("-", line)'''))
nb = nbformat.v4.new_notebook(cells=cells, metadata=old.metadata)
nbformat.write(nb, OUT)
print("wrote", OUT)
