"""Signatures of an imported run's references: user code runs only because the user imported it.

An imported run names the user's code (`source`: model, data and loss references with their
`--path`) and every process that uses the run imports and calls it. The run id is an unkeyed
digest of the manifest, so anyone who can write under `runs/` could point a manifest at any module
and rename the folder to the new digest; a plain address would then run that module. So the
import (Store.commit, for `landscape import` and the Recorder alike) signs the whole manifest, so
everything that decides what code runs and on what — `source` (the model, data and loss references
with their `--path`), `dataset`, the data's digest, the run id — with HMAC-SHA256 under a key only
this installation holds (the run id's 40-bit digest alone could be matched by brute force), and
`compute/sources.py`
verifies it before resolving any reference. A run that does not verify is refused in one line
naming it, and its modules are never imported.

The key: `$LANDSCAPE_HOME/secret.key`, or the file LANDSCAPE_SECRET_KEY_FILE names; created on
first signing (0600, atomically: two first imports at once end with one key), never created by a
process that only verifies (a worker without the key says so instead of "does not verify").
Runs shared between machines need the same key file on every web and worker machine.

Built-in runs name no user code and carry no signature; one edited to name user references is
refused like an unsigned imported run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import shutil
import uuid
from pathlib import Path

from models.errors import BadInput

from .settings import setting

ALGORITHM = "hmac-sha256"
KEY_FILE = "secret.key"
MIN_KEY_BYTES = 32
_DOMAIN = b"landscape run references v1\n"  # a MAC of this kind can never be mistaken for another


class MissingKey(Exception):
    """No key file where the settings say it is."""


def key_path() -> Path:
    explicit = setting("LANDSCAPE_SECRET_KEY_FILE")
    if explicit:
        return Path(explicit).expanduser()
    return Path(setting("LANDSCAPE_HOME")).expanduser() / KEY_FILE


def signing_key(create: bool = False) -> bytes:
    """The key's bytes; with `create`, a new random key is written first when there is none.
    MissingKey when there is none and `create` is false; BadInput when the file is unusable."""
    path = key_path()
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        if not create:
            raise MissingKey(str(path)) from None
        key = _create_key(path)
    except OSError as exc:
        raise BadInput(f"cannot read the signing key {path}: {exc.strerror}", field="LANDSCAPE_SECRET_KEY_FILE") from None
    if len(key) < MIN_KEY_BYTES:
        raise BadInput(f"the signing key {path} holds {len(key)} bytes, fewer than {MIN_KEY_BYTES}: delete it (a new "
                       "one is made on the next import) or write a longer secret into it",
                       field="LANDSCAPE_SECRET_KEY_FILE")
    return key


def _create_key(path: Path) -> bytes:
    """A new key at `path`, 0600 from its first byte; if another process made one meanwhile, theirs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, (secrets.token_hex(MIN_KEY_BYTES) + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # atomic, and never replaces a key another process just made
    except FileExistsError:
        pass
    except OSError:  # a file system without hard links: the rename is still atomic
        if not path.exists():
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes().strip()


def has_user_references(manifest: dict) -> bool:
    """Whether using the run would resolve references to user code or data."""
    dataset = manifest.get("dataset")
    return manifest.get("source") is not None or (
        isinstance(dataset, dict) and ("data" in dataset or dataset.get("name") == "imported"))


def _mac(key: bytes, manifest: dict) -> str:
    payload = json.dumps({k: v for k, v in manifest.items() if k != "signature"}, sort_keys=True,
                         separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, _DOMAIN + payload.encode(), hashlib.sha256).hexdigest()


def sign(manifest: dict) -> None:
    """Add the signature of `manifest`'s references (after its run id is set); built-in runs need none."""
    if has_user_references(manifest):
        manifest["signature"] = {"algorithm": ALGORITHM, "mac": _mac(signing_key(create=True), manifest)}


def verify(manifest: dict) -> None:
    """Nothing when the run names no user code or its references verify; else one BadInput naming the run."""
    if not has_user_references(manifest):
        return
    run, refs = _one_line(manifest.get("run_id")), describe(manifest)
    signature = manifest.get("signature")
    if not isinstance(signature, dict) or "mac" not in signature:
        raise BadInput(f"run {run} names user code ({refs}) but is not signed (imported by an earlier version, or "
                       f"edited): refused, its code was not run; if you trust those references, "
                       f"`landscape runs --resign {run}`, or import it again", field="run")
    try:
        key = signing_key()
    except MissingKey as exc:
        raise BadInput(f"run {run} is signed, but this machine has no signing key at {exc}: copy the key file from "
                       "the machine that imported it (or set LANDSCAPE_SECRET_KEY_FILE to the shared key)",
                       field="run") from None
    mac = signature.get("mac")
    if signature.get("algorithm") != ALGORITHM or not isinstance(mac, str) or \
            not hmac.compare_digest(mac.encode("ascii", "replace"), _mac(key, manifest).encode()):
        raise BadInput(f"run {run}: its references ({refs}) do not verify with this machine's signing key: the "
                       "manifest was edited, or it was signed with another key (LANDSCAPE_SECRET_KEY_FILE); refused, "
                       "its code was not run", field="run")


def verifies(manifest: dict) -> bool:
    try:
        verify(manifest)
    except (BadInput, MissingKey):
        return False
    return True


def drop_unverified(folder: Path) -> None:
    """Remove the run `folder` (about to be recorded again, with the same content) when its manifest
    names user code and does not verify: re-importing a run of an earlier version signs it."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        manifest = None
    if isinstance(manifest, dict) and verifies(manifest):
        return
    stale = folder.with_name(f".stale-{uuid.uuid4().hex}")
    os.replace(folder, stale)  # out of sight at once; the new run takes its name
    shutil.rmtree(stale, ignore_errors=True)


def describe(manifest: dict) -> str:
    """The references a run names, on one line (they may be anything an attacker wrote)."""
    source = manifest.get("source")
    if not isinstance(source, dict):
        return f"dataset {_one_line(manifest.get('dataset'))}"
    parts = []
    for name in ("model", "data", "loss"):
        ref = source.get(name)
        if isinstance(ref, dict):
            text = ref.get("file") or (f"{ref.get('module')}:{ref.get('function')}" if ref.get("module") else ref.get("kind"))
            where = f" from {_one_line(ref['path'])}" if ref.get("path") else ""
            parts.append(f"{name} {_one_line(text)}{where}")
    return ", ".join(parts) or _one_line(source)


def _one_line(value: object, limit: int = 160) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"

