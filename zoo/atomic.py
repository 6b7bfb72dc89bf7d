"""Writing files so that an interruption (SIGKILL, a full disk) never leaves a half-written one.

Every write goes to a temporary file in the same folder, is flushed to disk, and is renamed
over the target: a reader sees the old file or the new one, never a mix. The new file gets
the permissions an ordinary ``open(path, "w")`` would give it (0666 less the umask), not
``mkstemp``'s 0600.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path


def file_mode() -> int:
    """The permissions ``open(path, "w")`` gives a new file: 0666 less the umask."""
    try:  # Linux: read it, instead of setting it for the whole process for a moment
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(path, data) -> None:
    """Write ``data`` (str or bytes) to ``path`` atomically."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def refuse_link(path) -> None:
    """ValueError if ``path`` is a symbolic link: the zoo writes its files by fixed names into
    folders a user hands it, and a link planted under such a name would carry the write (or a
    truncation, or a removal) to wherever it points."""
    if Path(path).is_symlink():
        raise ValueError(f"{path} is a symbolic link; the zoo does not write through links "
                         "(remove it, or choose another folder)")


def refuse_links(folder) -> None:
    """:func:`refuse_link` for everything inside ``folder`` (the folder itself may be a link:
    the user named it). Links are not followed, so the walk stays inside the folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            refuse_link(Path(root) / name)


def append_line(path, line: str) -> None:
    """Append ``line`` and a newline to ``path`` and fsync it; never through a link."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
    refuse_link(path)
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as e:
        if Path(path).is_symlink():  # planted between the check and the open
            refuse_link(path)
        raise e
    with os.fdopen(fd, "a") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def write_figure(path, fig, **savefig_kwargs) -> None:
    """``fig.savefig`` to ``path`` atomically (the format from the suffix, as matplotlib)."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format=Path(path).suffix.lstrip(".") or None, **savefig_kwargs)
    write_atomic(path, buffer.getvalue())


def json_safe(obj):
    """``obj`` with every non-finite float replaced by None: JSON has no NaN or Infinity."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def write_json(path, obj, *, indent=2) -> None:
    """Write ``obj`` as strict JSON (non-finite floats become null), atomically."""
    text = json.dumps(json_safe(obj), indent=indent, allow_nan=False)
    write_atomic(path, text + "\n")


def read_json(path):
    """Read a JSON file; a truncated or corrupt one raises one ValueError naming the file."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is truncated or corrupt ({e.__class__.__name__}: {e}); "
                         "delete it to start that part again") from None


def exchange(a, b) -> bool:
    """Swap two existing paths in one step (Linux ``renameat2(RENAME_EXCHANGE)``): a reader
    sees one or the other at every instant. False, with nothing changed, where the system
    cannot (another OS, an old kernel or C library, a file system without it)."""
    import ctypes
    import errno
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(a))


def remove_inside(path, root) -> None:
    """Remove ``path`` (a folder tree, a file or a link) only if it sits directly in ``root``;
    a link is removed itself, never what it points to. Anything else raises ValueError, so a
    name that slipped past its check can never take a removal outside the folder a command
    manages."""
    import shutil

    path, root = Path(path), Path(root)
    if path.parent.resolve() != root.resolve() or path.name in ("", ".", ".."):
        raise ValueError(f"refusing to remove {path}: it is not inside {root}")
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
