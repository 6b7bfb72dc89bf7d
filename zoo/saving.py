"""Loading ``.keras`` files a user hands us: safely, and with one clear error when it fails.

Every ``.keras`` file the zoo loads -- ``zoo evaluate``, ``zoo publish``, ``load_pretrained``,
a study's finished run -- goes through :func:`load_model` here, which

* refuses a Keras older than :data:`MIN_KERAS`, the release whose safe mode
  ``tests/test_faults.py`` checks against known gadget files (Keras 3.10's safe mode could be
  switched off by the file itself, through chained Lambda layers);
* copies the file once into a private temporary folder, hashing it on the way, so what is
  checked (the sha256 a card promises, the archive, the config) is what is loaded;
* bounds what it reads: the file, and the sizes its archive declares for ``config.json`` and
  ``metadata.json`` (a zip bomb is refused before anything is decompressed), and the nesting
  of the config;
* reads the config itself before Keras does and refuses what can run code or reach files: a
  Lambda or other code-carrying layer, a serialized Python function, a module that is neither
  Keras nor the zoo, and Keras's own non-modelling functions (``load_model``,
  ``enable_unsafe_deserialization``, ``get_file``, ...);
* then loads with ``safe_mode=True``.

Any failure is one ``ValueError`` naming the file and the problem.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
import tempfile
import zipfile
from pathlib import Path

# The Keras release whose safe mode the suite tests (tests/test_faults.py feeds gadget files
# through every loader); pyproject.toml requires it, and a test keeps the two equal.
MIN_KERAS = "3.15.1"

MAX_FILE_BYTES = 2 << 30  # the largest zoo model (dmrnet_wide32) is ~60 MB
MAX_MEMBER_BYTES = {"config.json": 16 << 20, "metadata.json": 1 << 20}  # as declared in the zip
MAX_CONFIG_DEPTH = 100  # a zoo model's config nests ~15 deep

# layers that carry Python code, or read a file or a saved graph named in their config
CODE_LAYERS = {"Lambda": "carries Python code", "TFSMLayer": "runs a TensorFlow SavedModel",
               "JaxLayer": "wraps a Python function", "FlaxLayer": "wraps a Python function",
               "TorchModuleWrapper": "carries a pickled PyTorch module",
               "StringLookup": "may read a vocabulary file", "IntegerLookup":
               "may read a vocabulary file", "TextVectorization": "may read a vocabulary file"}
# Keras modules whose functions a model may name (activations, losses, ...)
FUNCTION_MODULES = ("keras.activations", "keras.losses", "keras.metrics", "keras.initializers",
                    "keras.regularizers", "keras.constraints", "keras.ops",
                    "keras.src.activations", "keras.src.losses", "keras.src.metrics",
                    "keras.src.initializers", "keras.src.regularizers", "keras.src.constraints")
# names that are never part of a model: loading, saving, downloading, switching safe mode off,
# running a process
FORBIDDEN_NAMES = {"load_model", "model_from_json", "save_model", "load_weights", "save_weights",
                   "enable_unsafe_deserialization", "deserialize_keras_object", "get_file",
                   "load_img", "save_img", "register_keras_serializable", "clear_session",
                   "system", "popen", "Popen", "run", "call", "check_output", "exec", "eval",
                   "__import__", "open", "getattr", "setattr"}


def _version_tuple(text: str) -> tuple[int, int, int]:
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", str(text))
    return tuple(int(g) for g in match.groups()) if match else (0, 0, 0)


def check_keras_version(version: str | None = None) -> None:
    """ValueError when Keras (``version``, default the installed one) is older than
    :data:`MIN_KERAS`: an older safe mode is not one the zoo has tested."""
    if version is None:
        import keras

        version = keras.version()
    if _version_tuple(version) < _version_tuple(MIN_KERAS):
        raise ValueError(
            f"keras {version} is older than {MIN_KERAS}, the release whose safe mode the zoo "
            f"tests; a .keras file could run code on it, so nothing is loaded "
            f"(pip install 'keras>={MIN_KERAS}')")


def _refuse(path, why) -> ValueError:
    return ValueError(f"{path}: refused to load: {why}")


def _builtin_function(name) -> bool:
    """A Keras built-in function that a config names by module 'builtins' (e.g. 'relu')."""
    import keras

    return isinstance(name, str) and name.isidentifier() and any(
        callable(getattr(module, name, None))
        for module in (keras.activations, keras.losses, keras.metrics))


def _zoo_function(name) -> bool:
    """A function (not a class) the zoo registered with Keras (``zoo>softmax``), which a
    config names by module 'builtins' and its registered name."""
    import keras

    if not (isinstance(name, str) and name.startswith("zoo>")):
        return False
    fn = keras.saving.get_custom_objects().get(name)
    # a plain function, not one of the zoo's registered classes (a layer as an activation)
    return inspect.isfunction(fn) and str(getattr(fn, "__module__", "")).startswith("zoo.")


def scan_config(config, path="config.json") -> None:
    """Raise ValueError if a model config names anything that could run code or reach a file
    (see the module docstring); a config Keras itself would refuse may pass, and is then
    refused by Keras's safe mode."""
    stack = [(config, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_CONFIG_DEPTH:
            raise _refuse(path, f"its config nests deeper than {MAX_CONFIG_DEPTH} levels")
        if isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)
            continue
        if not isinstance(value, dict):
            continue
        stack.extend((v, depth + 1) for v in value.values())
        if "class_name" not in value:
            continue
        cls, module = value.get("class_name"), value.get("module")
        inner = value.get("config")
        if cls == "__lambda__":
            raise _refuse(path, "it holds a serialized Python function (a lambda's bytecode)")
        if cls in CODE_LAYERS:
            raise _refuse(path, f"it holds a {cls} layer, which {CODE_LAYERS[cls]}")
        is_function = cls == "function" or value.get("registered_name") == "function"
        name = inner if is_function and isinstance(inner, str) else cls
        if name in FORBIDDEN_NAMES or cls in FORBIDDEN_NAMES:
            where = f"{module}." if isinstance(module, str) else ""
            raise _refuse(path, f"it names {where}{name}, which is not part of a model")
        if module is None:
            continue
        if not isinstance(module, str):
            raise _refuse(path, f"a 'module' of {cls!r} is not a string: {module!r}")
        package = module.split(".", 1)[0]
        if module == "builtins" and is_function and (
                _builtin_function(name) or _zoo_function(name)):
            continue
        if package not in ("keras", "zoo"):
            raise _refuse(path, f"it names {module}.{name}, which is neither Keras nor the zoo")
        if is_function and package == "keras" and not module.startswith(FUNCTION_MODULES):
            raise _refuse(path, f"it names the function {module}.{name}, which is not an "
                                "activation, loss, metric, initializer or operation")


def _read_member(archive, info, path) -> bytes:
    limit = MAX_MEMBER_BYTES[info.filename]
    if info.file_size > limit:
        raise _refuse(path, f"its {info.filename} declares {info.file_size:,} bytes "
                            f"(more than {limit:,})")
    with archive.open(info) as f:
        return f.read(limit + 1)


def check_keras_file(path, *, shown=None) -> Path:
    """``path`` if it is a whole ``.keras`` archive whose config :func:`scan_config` accepts;
    one ValueError naming it (as ``shown``, default ``path``) otherwise."""
    path = Path(path)
    shown = path if shown is None else shown
    if not path.exists():
        raise ValueError(f"{shown}: no such file")
    if not path.is_file():
        raise ValueError(f"{shown}: is a folder, not a .keras file")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise _refuse(shown, f"the file is larger than {MAX_FILE_BYTES:,} bytes")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{shown}: not a .keras file (not a zip archive: truncated, or not a "
                         "saved Keras model)")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = {i.filename: i for i in archive.infolist()}
            if "config.json" not in infos:
                raise ValueError(f"{shown}: a zip archive without config.json, not a saved "
                                 "Keras model")
            if sum(i.file_size for i in infos.values()) > MAX_FILE_BYTES:
                raise _refuse(shown, f"its members declare more than {MAX_FILE_BYTES:,} bytes")
            members = {n: _read_member(archive, infos[n], shown)
                       for n in MAX_MEMBER_BYTES if n in infos}
            broken = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as e:
        raise ValueError(f"{shown}: corrupt .keras archive ({e})") from None
    if broken is not None:
        raise ValueError(f"{shown}: corrupt .keras archive ({broken} fails its CRC check)")
    try:
        config = json.loads(members["config.json"])
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise ValueError(f"{shown}: corrupt .keras archive (config.json: "
                         f"{e.__class__.__name__})") from None
    scan_config(config, shown)
    return path


def _copy_hashing(source: Path, target: Path) -> str:
    digest = hashlib.sha256()
    with open(source, "rb") as f, open(target, "wb") as out:
        size = 0
        for chunk in iter(lambda: f.read(1 << 20), b""):
            size += len(chunk)
            if size > MAX_FILE_BYTES:
                raise _refuse(source, f"the file is larger than {MAX_FILE_BYTES:,} bytes")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def load_model(path, *, compile=True, sha256: str | None = None):
    """Load a ``.keras`` file as described in the module docstring; with ``sha256``, the
    loaded bytes must have that digest. Returns the ``keras.Model``."""
    import keras

    check_keras_version(keras.version())
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path}: is a folder, not a .keras file")
    with tempfile.TemporaryDirectory(prefix="zoo-load-") as folder:
        copy = Path(folder) / "model.keras"
        actual = _copy_hashing(path, copy)
        if sha256 is not None and actual != sha256:
            raise ValueError(
                f"sha256 mismatch for {path}: the card says {sha256}, the file has {actual}; "
                "the file is corrupt or was modified, so it was not loaded")
        check_keras_file(copy, shown=path)
        try:
            return keras.saving.load_model(copy, safe_mode=True, compile=compile)
        except (MemoryError, RecursionError) as e:
            raise ValueError(f"{path}: cannot load the model ({e.__class__.__name__})") from None
        except Exception as e:  # a config Keras cannot build: unknown class, bad arguments
            text = " ".join(str(e).split()).replace(str(copy), str(path))
            text = text if len(text) <= 300 else text[:300] + " ..."
            raise ValueError(f"{path}: cannot load the model ({e.__class__.__name__}: "
                             f"{text})") from None
