"""Names, folders and what a command may remove or write (issue 31 items 2, 6, 7): a user's
name never becomes a path outside the folder a command manages, a publish killed midway
leaves a published model and no listed leftover, provenance stays inside a study's folder."""

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from zoo.atomic import remove_inside
from zoo.validation import name as checked_name


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from zoo.train import fit

    folder = tmp_path_factory.mktemp("run") / "run"
    fit("shallow_sequential", "digits", recipe="quick", out_dir=folder, layers=2, filters=8,
        epochs=1, verbose=0)
    return folder


# --- item 2: names become paths ------------------------------------------------------------

@pytest.mark.parametrize("bad", ["digits.staging/../../victim", "a\nlicense: evil", ".", "..",
                                 "*", "", "a/b", ".hidden", "Digits", "x" * 65, "a b"])
def test_a_bad_name_is_refused_in_one_line(bad):
    with pytest.raises(ValueError, match="must be 1-64 lowercase letters, digits and "
                                         "underscores") as e:
        checked_name("--tag", bad)
    assert "\n" not in str(e.value).replace(repr(bad), "")


def test_every_name_the_zoo_accepts_matches_the_pattern():
    """Models and studies are looked up in fixed sets, stricter than the pattern; every member
    of those sets, and every published model, matches it."""
    import re

    from zoo.pretrained import list_pretrained
    from zoo.registry import catalog
    from zoo.studies.runner import ALIASES, STUDIES
    from zoo.validation import NAME_PATTERN, PRETRAINED_PATTERN

    for name in [*catalog(), *STUDIES, *ALIASES]:  # an old name is a path part too
        assert re.fullmatch(NAME_PATTERN, name), name
    assert list_pretrained() and all(re.fullmatch(PRETRAINED_PATTERN, n)
                                     for n in list_pretrained())
    with pytest.raises(ValueError, match="study must be one of"):
        from zoo.studies.runner import get_study

        get_study("../sequential_vs_parallel")


@pytest.mark.parametrize("good", ["mnist", "seed001_fashion_mnist", "resnet20", "0"])
def test_good_names_pass(good):
    assert checked_name("--tag", good) == good


def test_publish_refuses_a_traversing_tag_and_removes_nothing_outside(run, tmp_path, capsys):
    from zoo.cli import main

    to = tmp_path / "zoo"
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("mine")
    # a leftover staging folder, as a kill during publish leaves one
    (to / ".shallow_sequential.digits.staging").mkdir(parents=True)
    for tag in ("digits.staging/../../victim", "x\nlicense: evil", "..", "*"):
        assert main(["publish", str(run), "--to", str(to), "--tag", tag]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "--tag must be" in err
    assert main(["publish", str(run), "--to", str(to), "--name", "../x"]) == 2
    assert "--name must be" in capsys.readouterr().err
    assert (victim / "precious.txt").read_text() == "mine"


def test_a_linked_leftover_is_unlinked_not_followed(run, tmp_path):
    from zoo.pretrained import publish

    to = tmp_path / "zoo"
    to.mkdir()
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("mine")
    for leftover in (".shallow_sequential.digits.staging", ".shallow_sequential.digits.old"):
        (to / leftover).symlink_to(victim, target_is_directory=True)
    publish(run, to=to)
    assert (victim / "precious.txt").read_text() == "mine"
    assert sorted(p.name for p in to.iterdir()) == ["shallow_sequential.digits"]


def test_removal_never_reaches_outside_its_folder(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    for path in (outside, root / ".." / "outside", root, root / "."):
        with pytest.raises(ValueError, match="refusing to remove"):
            remove_inside(path, root)
    assert outside.is_dir() and root.is_dir()
    (root / "sub").mkdir()
    remove_inside(root / "sub", root)
    assert not (root / "sub").exists()


# --- item 6: re-publishing is atomic -------------------------------------------------------

class _Killed(BaseException):
    """What SIGKILL does to a publish: it stops, and no cleanup runs."""


def _accuracy(to, name):
    return json.loads((to / name / "card.json").read_text())["metrics"]["test_accuracy"]


@pytest.mark.parametrize("exchange", [True, False], ids=["exchange", "two_renames"])
def test_a_publish_killed_between_its_renames_leaves_a_model(run, tmp_path, monkeypatch,
                                                             exchange):
    import sys

    from zoo.pretrained import list_pretrained, load_pretrained, pretrained_card, publish

    cards = sys.modules["zoo.pretrained.cards"]
    to = tmp_path / "zoo"
    name = "shallow_sequential.digits"
    publish(run, to=to)
    first = (to / name / "model.keras").read_bytes()
    if exchange:  # killed right after the one-step swap, before any cleanup
        real_exchange = cards.exchange

        def exchange_then_die(a, b):
            assert real_exchange(a, b), "renameat2 exchange unsupported here"
            raise _Killed

        monkeypatch.setattr(cards, "exchange", exchange_then_die)
    else:  # where folders cannot be swapped in one step: killed between the two renames
        monkeypatch.setattr(cards, "exchange", lambda a, b: False)
        renames = []
        real_rename = Path.rename

        def rename_then_die(self, target):
            renames.append((self.name, Path(target).name))
            if len(renames) == 2:
                raise _Killed
            return real_rename(self, target)

        monkeypatch.setattr(Path, "rename", rename_then_die)
    monkeypatch.setattr(cards, "remove_inside", lambda *a: None)  # a killed process cleans nothing
    try:
        publish(run, to=to)
    except _Killed:
        pass
    monkeypatch.undo()
    # the previous model is published, and no leftover is listed as a model
    assert list_pretrained(root=to) == [name]
    assert pretrained_card(name, root=to)["name"] == name
    load_pretrained(name, root=to)
    # the next publish recovers and cleans up
    publish(run, to=to)
    assert sorted(p.name for p in to.iterdir()) == [name]
    assert (to / name / "model.keras").stat().st_size == len(first)


def test_leftover_folders_are_never_listed(tmp_path):
    from zoo.pretrained import list_pretrained

    for folder in ("a.mnist", ".a.mnist.staging", ".a.mnist.old", ".b.mnist.staging", "c",
                   "Bad Name.mnist"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "card.json").write_text("{}")
    assert list_pretrained(root=tmp_path) == ["a.mnist"]


# --- item 7: provenance inside the study's folder, for commands that succeeded --------------

def test_provenance_stays_inside_the_study_folder(tmp_path, monkeypatch):
    from zoo.studies import runner

    out = tmp_path / "study" / "out"
    users = tmp_path / "study" / "commands.sh"  # a user's own script beside the folder
    users.parent.mkdir()
    users.write_text("#!/bin/sh\necho mine\n")
    users.chmod(0o755)

    class Boom(Exception):
        pass

    def failing_run(*args, **kwargs):
        raise Boom

    study = runner.get_study("sequential_vs_parallel")
    monkeypatch.setattr(study, "run", failing_run)
    with pytest.raises(Boom):
        runner.reproduce("sequential_vs_parallel", "smoke", out=out,
                         argv=["reproduce", "sequential_vs_parallel", "--out", str(out)])
    assert not (out / "commands.sh").exists()  # a failed command is not recorded
    assert users.read_text() == "#!/bin/sh\necho mine\n"
    assert stat.S_IMODE(users.stat().st_mode) == 0o755

    monkeypatch.setattr(study, "run", lambda *a, **k: True)
    monkeypatch.setattr(study, "report", lambda out, budget: {})
    argv = ["reproduce", "sequential_vs_parallel", "--budget", "smoke", "--out", str(out)]
    runner.reproduce("sequential_vs_parallel", "smoke", out=out, argv=argv)
    runner.reproduce("sequential_vs_parallel", "smoke", out=out, argv=argv)  # recorded once
    script = (out / "commands.sh").read_text().splitlines()
    assert script[-1] == "zoo " + " ".join(argv)
    assert sum(line.startswith("zoo ") for line in script) == 1
    assert os.access(out / "commands.sh", os.X_OK)
    assert users.read_text() == "#!/bin/sh\necho mine\n"


def test_a_foreign_commands_file_in_the_folder_is_left_alone(tmp_path, monkeypatch):
    from zoo.studies import runner

    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "elsewhere.sh"
    target.write_text("mine\n")
    (out / "commands.sh").symlink_to(target)
    study = runner.get_study("sequential_vs_parallel")
    monkeypatch.setattr(study, "run", lambda *a, **k: True)
    monkeypatch.setattr(study, "report", lambda out, budget: {})
    # a link in a study's folder is refused before the study runs (it writes by fixed names)
    with pytest.raises(ValueError, match="commands.sh is a symbolic link"):
        runner.reproduce("sequential_vs_parallel", "smoke", out=out,
                         argv=["reproduce", "sequential_vs_parallel"])
    assert (out / "commands.sh").is_symlink() and target.read_text() == "mine\n"
    shutil.rmtree(out)
