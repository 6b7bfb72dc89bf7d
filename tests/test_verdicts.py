"""The verdicts a reader sees are the verdicts the rule computes.

- Each study's committed ``summary.json`` holds the verdicts that ``zoo.studies.claims.judge``
  gives on the study's committed measurements (recomputed here).
- The README's and notebooks 02-05's verdict tables are exactly ``study_block`` of those
  summaries (the notebooks' stored outputs, the README's generated blocks).
- No prose outside those tables uses a verdict word: a verdict lives in one generated place.
"""

import json
import re

import nbformat
import pytest
from conftest import ROOT

from zoo.studies import claims as verdicts
from zoo.studies.runner import STUDY_RESULTS, get_study

STUDIES = list(STUDY_RESULTS)
WORDS = re.compile(r"\b(reproduced|contradicted|inconclusive|not tested|partly)\b", re.I)


def _summary(study):
    return json.loads((ROOT / STUDY_RESULTS[study] / "summary.json").read_text())


def _computed(study):
    """The verdict rows the rule gives on the committed measurements, without writing."""
    folder = ROOT / STUDY_RESULTS[study]
    return get_study(study).judged(folder, folder.name)  # results/<study>/<budget>


def test_every_study_shows_its_cpu_results_in_its_notebook():
    for study, folder in STUDY_RESULTS.items():
        assert _summary(study)["study"] == study  # the report was written by that study
        assert folder in (ROOT / "notebooks" / get_study(study).NOTEBOOK).read_text(), study


# every committed budget folder, not only the one the README shows (the gpu budgets too)
COMMITTED = sorted(p.parent.relative_to(ROOT).as_posix()
                   for p in ROOT.glob("results/*/*/summary.json"))


def test_the_shown_results_are_among_the_committed():
    assert set(STUDY_RESULTS.values()) <= set(COMMITTED)


@pytest.mark.parametrize("folder", COMMITTED)
def test_committed_verdicts_are_what_the_rule_computes(folder):
    path = ROOT / folder  # results/<study>/<budget>
    committed = {c["id"]: c["verdict"]
                 for c in json.loads((path / "summary.json").read_text())["claims"]}
    computed = {r["id"]: r["verdict"] for r in get_study(path.parent.name).judged(path, path.name)}
    assert computed == committed, "summary.json is stale: run zoo reproduce --report-only"


def test_committed_sample_line_is_what_the_trials_give():
    """sequential_vs_parallel's line beside its table (hours, per-head pools) recomputes from
    its trials.csv."""
    import pandas as pd

    from zoo.studies import sequential_vs_parallel as study

    folder = ROOT / STUDY_RESULTS["sequential_vs_parallel"]
    frame = pd.read_csv(folder / "trials.csv")
    line = study.sample(study.cost(frame),
                        study.paired_statistics(study.pairs_of(frame)),
                        study.BUDGETS[folder.name])
    assert _summary("sequential_vs_parallel")["sample"] == line, \
        "stale: run zoo reproduce --report-only"


@pytest.mark.parametrize("study", STUDIES)
def test_notebook_shows_the_generated_table_and_no_verdict_in_prose(study):
    notebook = get_study(study).NOTEBOOK
    nb = nbformat.read(ROOT / "notebooks" / notebook, as_version=4)
    expected = verdicts.study_block(study, _summary(study))
    shown = [o["data"]["text/markdown"] for c in nb.cells if c.cell_type == "code"
             and "study_block(" in c.source for o in c.get("outputs", [])
             if "text/markdown" in o.get("data", {})]
    assert shown == [expected], f"{notebook}: re-execute it after the report changed"
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found = WORDS.findall(cell.source)
            assert not found, f"{notebook}: a verdict word in prose: {found}: " \
                              f"{cell.source[:80]!r}"


def test_readme_shows_the_generated_tables_and_no_verdict_in_prose():
    readme = (ROOT / "README.md").read_text()
    for study in STUDY_RESULTS:
        start, end = f"<!-- verdicts:{study} -->", f"<!-- /verdicts:{study} -->"
        block = readme.split(start, 1)[1].split(end, 1)[0].strip()
        assert block == verdicts.study_block(study, _summary(study)), \
            f"README's {study} table is stale: make readme"
    section = readme.split("## Reproductions", 1)[1].split("\n## ", 1)[0]
    prose = re.sub(r"<!-- verdicts:(\w+) -->.*?<!-- /verdicts:\1 -->", "", section,
                   flags=re.S)
    assert not WORDS.findall(prose), WORDS.findall(prose)
    outside = re.sub(r"<!-- verdicts:(\w+) -->.*?<!-- /verdicts:\1 -->", "", readme,
                     flags=re.S)
    assert not WORDS.findall(outside), WORDS.findall(outside)  # nowhere else in the README


def test_update_readme_rewrites_a_stale_block(tmp_path):
    for study, folder in STUDY_RESULTS.items():
        (tmp_path / folder).mkdir(parents=True)
        (tmp_path / folder / "summary.json").write_text(json.dumps(_summary(study)))
    readme = tmp_path / "README.md"
    readme.write_text("x\n<!-- verdicts:merge_and_run -->\nold | **reproduced**\n"
                      "<!-- /verdicts:merge_and_run -->\ny\n")
    assert verdicts.update_readme(readme, STUDY_RESULTS)
    text = readme.read_text()
    assert "old" not in text and verdicts.study_block("merge_and_run", _summary("merge_and_run")) in text
    assert not verdicts.update_readme(readme, STUDY_RESULTS)  # idempotent
