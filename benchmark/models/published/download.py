"""Downloading a published checkpoint: streamed to a temporary file with connect and read timeouts,
checked against its SHA-256 where known, then renamed into place (a cut download leaves nothing
under the final name).

``STBENCH_WEIGHTS_MIRROR`` (a base URL or folder) replaces each address's folder: clusters whose
compute nodes cannot reach the internet keep a copy of the files there."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from benchmark.errors import ModelError
from benchmark.models.published.weights_file import sha256_of

MIRROR_VARIABLE = "STBENCH_WEIGHTS_MIRROR"


def resolved_url(url: str) -> str:
    mirror = os.environ.get(MIRROR_VARIABLE, "").strip()
    if not mirror:
        return url
    name = url.rsplit("/", 1)[-1]
    if "://" not in mirror:
        return Path(mirror, name).absolute().as_uri()
    return mirror.rstrip("/") + "/" + name


OFFLINE_HINT = ("offline? fetch the file where there is network and import it: stbench weights import SOURCE FILE "
                f"--model NAME --out OUT (or set {MIRROR_VARIABLE} to a folder or server holding it)")


def download(url: str, dest: Path, *, sha256: str | None = None, timeout: float = 30.0,
             hint: str = OFFLINE_HINT) -> Path:
    """``url`` into ``dest`` (a file path); an existing ``dest`` with the right checksum is kept.
    ``timeout``: seconds to connect and between two reads (a network that drops packets silently
    fails then, instead of hanging)."""
    url = resolved_url(url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file() and (sha256 is None or sha256_of(dest) == sha256):
        return dest
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ModelError(f"{url}: downloaded file has SHA-256 {digest.hexdigest()}, the table says {sha256}")
        shutil.move(tmp, dest)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ModelError(f"could not download {url} ({type(exc).__name__}: {str(reason)[:120]}); {hint}") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest

