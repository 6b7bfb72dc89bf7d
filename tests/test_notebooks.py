"""The stored notebooks are a full run: every cell executed in order, no errors, no stderr,
every plot present, and live cells marked. (nbval, in `make test`, re-runs them.)"""

import json

import pytest
from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_the_seven_notebooks_exist():
    assert [p.stem[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06", "07"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_stored_outputs_are_a_clean_full_run(path):
    cells = [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
    counts = [c["execution_count"] for c in cells]
    assert counts == list(range(1, len(cells) + 1)), "re-run the notebook top to bottom"
    for cell in cells:
        source = "".join(cell["source"])
        outputs = cell["outputs"]
        assert not [o for o in outputs if o["output_type"] == "error"], source[:80]
        assert not [o for o in outputs if o.get("name") == "stderr"], source[:80]
        if "plt.show()" in source:
            assert any("image/png" in o.get("data", {}) for o in outputs), source[:80]
        if "zoo.train.fit(" in source or "tuning.tune(" in source:
            assert source.startswith("# NBVAL_IGNORE_OUTPUT"), source[:80]
            assert "assert " in source, "a live cell checks its own result"
    assert '"ZOO_NOTEBOOK_TEST"' in "".join("".join(c["source"]) for c in cells)
