"""Every ```python block of the README runs as printed, each with its own globals (a reader
pastes one at a time), in one fresh process started in an empty folder; the block that serves
an export "without zoo" runs in a second process, where ``import zoo`` fails. A block that names a variable it never defines,
or an API that moved, fails here first."""

import os
import re
import subprocess
import sys

import pytest
from conftest import ROOT

needs_real_data = pytest.mark.skipif(not os.environ.get("ZOO_DATA_DIR"),
                                     reason="needs ZOO_DATA_DIR with MNIST and Fashion-MNIST")

BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)

RUNNER = """
import sys, traceback
blocks = {blocks!r}
if {without_zoo!r}:
    sys.modules["zoo"] = None  # `import zoo` raises ImportError
for number, code in blocks:
    try:
        exec(compile(code, f"README block {{number}}", "exec"), {{"__name__": "__main__"}})
    except BaseException:
        traceback.print_exc()
        sys.exit(f"README block {{number}} failed")
    print(f"README block {{number}} ran", flush=True)
"""


def _run(blocks, cwd, *, without_zoo=False):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", RUNNER.format(blocks=blocks,
                                                               without_zoo=without_zoo)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def test_the_readme_has_its_snippets():
    assert len(BLOCKS) == 6, "a block was added or removed: check what this test runs"
    assert sum("without zoo" in block for block in BLOCKS) == 1


@needs_real_data
def test_every_readme_snippet_runs_as_printed(tmp_path):
    numbered = list(enumerate(BLOCKS, 1))
    with_zoo = [(n, b) for n, b in numbered if "without zoo" not in b]
    result = _run(with_zoo, tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("ran") == len(with_zoo)
    assert (tmp_path / "exported" / "dmrnet20_mnist" / "saved_model.pb").is_file()
    serving = [(n, b) for n, b in numbered if "without zoo" in b]
    result = _run(serving, tmp_path, without_zoo=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_the_runner_fails_on_an_undefined_name(tmp_path):
    """The harness itself: a block using a name nothing defines fails (as the README's
    `probabilities` once did)."""
    result = _run([(1, "import zoo\nzoo.decode_predictions(probabilities, 'x')\n")], tmp_path)
    assert result.returncode != 0 and "NameError: name 'probabilities'" in result.stderr
    result = _run([(1, "import zoo\n")], tmp_path, without_zoo=True)
    assert result.returncode != 0 and "import of zoo halted" in result.stderr


@pytest.mark.parametrize("number", range(1, 7))
def test_each_block_imports_what_it_uses(number):
    """A block that uses zoo (or np, tf) imports it itself."""
    block = BLOCKS[number - 1]
    for name, statement in (("zoo", "import zoo"), ("np", "import numpy as np"),
                            ("tf", "import tensorflow as tf")):
        if re.search(rf"(?<![\w.]){name}\.", block):
            assert statement in block, f"README block {number} uses {name} without {statement}"
