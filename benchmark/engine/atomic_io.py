"""Atomic file writes and strict JSON, shared by the run directory, its claim and its checkpoints.

A reader of a run directory never sees a half-written file: every file is written whole to a
temporary in the same folder, fsynced, then renamed over its name (:func:`write_bytes_atomic`), or
hard-linked to a name that must not exist yet (:func:`create_exclusive`, the claim's rule). A failed
write is one line naming the file (:class:`RunDirWriteError`) and leaves the old file in place.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
import zlib
from pathlib import Path
from typing import Any

from benchmark.errors import StbenchError

TMP_SUFFIX = ".tmp"  # atomic writes go through ".NAME.XXXX.tmp" in the same folder
# errors of ``link`` on a filesystem without hard links: create exclusively instead
_NO_LINKS = (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK)


class RunDirWriteError(StbenchError, OSError):
    """A run-directory file could not be written (read-only folder, disk full): names the file."""


def write_error(path: str | Path, exc: OSError) -> RunDirWriteError:
    """One line naming the file and the system's reason (``No space left on device``, ...)."""
    why = exc.strerror or str(exc) or type(exc).__name__
    return RunDirWriteError(f"cannot write {path}: {why}")


def make_dir(path: str | Path) -> Path:
    """``mkdir -p`` whose failure (permission, disk full) is a one-line error naming the folder."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc) from exc
    return path


def _crc(path: Path) -> int:
    """CRC-32 of a file: a read-back check (not a signature), cheap enough for a pre-empted job that
    must checkpoint before SLURM kills it."""
    crc = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            crc = zlib.crc32(block, crc)
    return crc


def _write_temp(path: Path, data: bytes, suffix: str) -> Path:
    """``data`` in a new fsynced temporary ``.NAME.XXXX<suffix>`` beside ``path`` (removed on failure)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def write_bytes_atomic(path: str | Path, data: bytes, *, verify: bool = False,
                       keep_previous: str | Path | None = None, temp_suffix: str = TMP_SUFFIX) -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``.

    ``verify``: read the temporary back and compare its checksum before it replaces anything.
    ``keep_previous``: the file being replaced is kept there first (hard link, else a copy), so a
    good previous version survives until the new one is in place. ``temp_suffix``: the claim's
    temporaries are not ``.tmp``, which the run's writer removes as a killed writer's. An ``OSError``
    is re-raised as :class:`RunDirWriteError` naming ``path``; the temporary never outlives a failure.
    """
    path = Path(path)
    make_dir(path.parent)
    tmp = None
    try:
        tmp = _write_temp(path, data, temp_suffix)
        if verify and _crc(tmp) != zlib.crc32(data):
            raise OSError(errno.EIO, "written bytes read back differently")
        if keep_previous is not None and path.is_file():
            _keep(path, Path(keep_previous))
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise write_error(path, exc) from exc
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)


def _keep(path: Path, previous: Path) -> None:
    """``previous`` becomes a copy of ``path`` atomically (``path`` itself stays in place)."""
    link = previous.with_name(f".{previous.name}.{os.getpid()}{TMP_SUFFIX}")
    link.unlink(missing_ok=True)
    try:
        os.link(path, link)
    except OSError:  # a filesystem without hard links
        shutil.copyfile(path, link)
    os.replace(link, previous)


def create_exclusive(path: str | Path, data: bytes, *, temp_suffix: str = TMP_SUFFIX) -> bool:
    """Create ``path`` holding ``data``, whole, only if the name does not exist; False if it does.

    A complete temporary is hard-linked to ``path``: ``link`` fails on an existing name, also on
    NFS, so of any number of racing processes exactly one creates it. Where hard links are not
    supported: an exclusive create, then the content (a reader may see it part-written)."""
    path = Path(path)
    try:
        tmp = _write_temp(path, data, temp_suffix)
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_LINKS:
                raise
        finally:
            tmp.unlink(missing_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        return True
    except OSError as exc:
        raise write_error(path, exc) from exc


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: Any) -> str:
    """Strict JSON (NaN/inf are refused: a reader in another language would choke on them)."""
    return json.dumps(obj, default=_json_default, allow_nan=False, sort_keys=False)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str) -> Any:
    """Strict JSON, as :func:`dumps` writes it (NaN/Infinity are refused here too)."""
    return json.loads(text, parse_constant=_no_constant)


def write_json_atomic(path: str | Path, obj: Any) -> None:
    write_bytes_atomic(path, (json.dumps(obj, default=_json_default, allow_nan=False, indent=2) + "\n").encode())
