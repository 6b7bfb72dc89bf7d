"""nbval setup for every notebook, once.

- TensorFlow's C++/absl start-up lines go to the kernel's stderr and change from run to run;
  nbval compares stderr too, so they are switched off at the source for every kernel
  (kernels inherit this process's environment).
- ZOO_NOTEBOOK_TEST=1 shrinks data and epochs of the live-training cells (their printed
  numbers are ignored; their assertions are not). Stored outputs come from a full run.
- Notebooks that need real data (MNIST, Fashion-MNIST) are skipped, with the reason shown,
  where it is not available.
"""

import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ.setdefault("ZOO_NOTEBOOK_TEST", "1")
if os.environ.get("ZOO_DATA_DIR"):  # kernels run in notebooks/: a relative path would break
    os.environ["ZOO_DATA_DIR"] = os.path.abspath(os.environ["ZOO_DATA_DIR"])

import pytest  # noqa: E402

# notebook -> the real data sets it reads
NEEDS_DATA = {"04_ensemble_view.ipynb": ("fashion_mnist",),
              "06_model_zoo_tour.ipynb": ("mnist", "fashion_mnist")}


def _missing(dataset):
    from zoo.data import DataError, load_raw

    try:
        load_raw(dataset, "test", download=False)
    except (DataError, ValueError) as e:
        return str(e).splitlines()[0]
    return None


# tryfirst: xdist's own hook (registered later, so otherwise called first) turns the group
# mark into the "@group" suffix that --dist loadgroup schedules by
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    missing = {}
    for item in items:
        if item.fspath.basename.endswith(".ipynb"):
            # one kernel runs a notebook cell by cell: `--dist loadgroup` keeps it on one
            # worker while the tests share the other (make test runs both in one session)
            item.add_marker(pytest.mark.xdist_group(item.fspath.basename))
        for dataset in NEEDS_DATA.get(item.fspath.basename, ()):
            if dataset not in missing:
                missing[dataset] = _missing(dataset)
            if missing[dataset] is not None:
                item.add_marker(pytest.mark.skip(
                    reason=f"REAL-DATA NOTEBOOK SKIPPED (set ZOO_DATA_DIR): {missing[dataset]}"))
                break


def pytest_collection_finish(session):
    """Under --dist loadgroup every notebook cell must carry its notebook's group (after
    xdist's hook), or cells of one notebook could run on two workers, each in a kernel
    without the earlier cells' state."""
    if not getattr(session.config.option, "loadgroup", False):
        return
    stray = [i.nodeid for i in session.items if i.fspath.basename.endswith(".ipynb")
             and not i.nodeid.endswith("@" + i.fspath.basename)]
    if stray:
        raise pytest.UsageError(f"notebook cells outside their notebook's group: {stray[:3]}")
