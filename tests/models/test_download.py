"""`landscape download`: digests checked on local files (file:// sources written here), the archive
unpacked, and a clear message when the address cannot be reached. Nothing here uses the network:
the real addresses are only checked for form."""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile

import numpy as np
import pytest

from app.cli import main
from models.errors import BadInput
from models.datasets import DatasetRef, load_dataset, write_cifar_bin
from models.download import SOURCES, Source, download

UNREACHABLE = "http://127.0.0.1:9/nothing-listens-here"  # the discard port: refused at once


def _sha256(path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_with_the_right_digest_is_fetched_and_kept(tmp_path):
    src = tmp_path / "src" / "ptb.valid.txt"
    src.parent.mkdir()
    src.write_text(" the cat sat \n")
    out = tmp_path / "data"
    download("ptb", out, sources=[Source(src.as_uri(), "ptb.valid.txt", _sha256(src))], log=lambda m: None)
    assert (out / "ptb.valid.txt").read_bytes() == src.read_bytes()
    assert not list(out.glob(".*part"))
    # present with the right digest: not fetched again (the address would fail if it were)
    messages = []
    download("ptb", out, sources=[Source(UNREACHABLE, "ptb.valid.txt", _sha256(src))], log=messages.append)
    assert messages == ["ptb.valid.txt: already there, digest ok"]
    # md5 digests (the only ones published for PTB) are checked the same way
    md5 = "md5:" + hashlib.md5(src.read_bytes()).hexdigest()
    download("ptb", out, sources=[Source(UNREACHABLE, "ptb.valid.txt", md5)], log=lambda m: None)


def test_a_wrong_digest_is_refused_and_leaves_nothing(tmp_path):
    src = tmp_path / "t10k-labels-idx1-ubyte.gz"
    src.write_bytes(b"not what was published")
    out = tmp_path / "data"
    with pytest.raises(BadInput, match="does not match the expected"):
        download("mnist", out, sources=[Source(src.as_uri(), src.name, "sha256:" + "0" * 64)], log=lambda m: None)
    assert list(out.iterdir()) == []
    # a damaged copy already in the folder is fetched again, and refused again if still wrong
    (out / src.name).write_bytes(b"damaged")
    with pytest.raises(BadInput, match="does not match"):
        download("mnist", out, sources=[Source(src.as_uri(), src.name, "sha256:" + "0" * 64)], log=lambda m: None)
    assert list(out.iterdir()) == []


def test_offline_gives_a_clear_message(tmp_path):
    with pytest.raises(BadInput, match="offline.*put it in .* as ptb.train.txt"):
        download("ptb", tmp_path, sources=[Source(UNREACHABLE, "ptb.train.txt", "sha256:" + "0" * 64)],
                 timeout=5, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_the_cifar10_archive_is_unpacked_where_the_reader_finds_it(tmp_path):
    rng = np.random.default_rng(0)
    archive = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
            path = tmp_path / name
            write_cifar_bin(path, rng.integers(0, 256, (4, 3, 32, 32), dtype=np.uint8),
                            rng.integers(0, 10, 4, dtype=np.uint8))
            tar.add(path, arcname=f"cifar-10-batches-bin/{name}")
    out = tmp_path / "data"
    download("cifar10", out, sources=[Source(archive.as_uri(), archive.name, _sha256(archive), unpack="tar.gz")],
             log=lambda m: None)
    data = load_dataset(DatasetRef("cifar10", str(out), {"preprocess": "scale"}))
    assert data.splits["train"][0].shape == (16, 3, 32, 32) and data.splits["test"][0].shape == (4, 3, 32, 32)


def test_an_archive_member_outside_the_folder_is_refused(tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("../escaped.bin")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    out = tmp_path / "data"
    with pytest.raises(BadInput, match="refusing archive member"):
        download("cifar10", out, sources=[Source(archive.as_uri(), archive.name, _sha256(archive), unpack="tar.gz")],
                 log=lambda m: None)
    assert not (tmp_path / "escaped.bin").exists()


def test_the_real_sources_are_well_formed():
    assert set(SOURCES) == {"mnist", "cifar10", "ptb"}
    for sources in SOURCES.values():
        for s in sources:
            assert s.url.startswith("https://") and s.url.endswith(s.name)
            assert re.fullmatch(r"sha256:[0-9a-f]{64}|md5:[0-9a-f]{32}", s.digest)


def test_cli_download_rejects_what_it_cannot_do(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["download", "imagenet", "--data", "x"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["download", "mnist"])  # --data is required: nothing is put anywhere implicitly
    assert exc.value.code == 2


def test_cli_models_lists_all_ten_with_their_presets(capsys):
    assert main(["models"]) == 0
    table = capsys.readouterr().out
    ids = ["maxout-mnist", "maxout-adv-mnist", "relu-mnist", "relu-dropout-mnist", "sigmoid-mnist",
           "conv-maxout-cifar10", "mpdbm-mnist", "lstm-ptb", "deep-linear-mnist", "scalar-linear"]
    lines = {line.split()[0]: line for line in table.splitlines() if line.strip()}
    assert sorted(lines) == sorted(ids)
    assert all("small,paper" in lines[i] for i in ids)
    assert main(["models", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["id"]: r["presets"] for r in rows} == {i: ["small", "paper"] for i in ids}
