"""API keys: stored only as sha256 digests, checked in constant time; and the one rule of
which routes need one (:func:`key_required`).

Keys file format: one lowercase sha256 hex digest per line (64 characters); blank lines
and ``#`` comments are ignored. ``facerec serve --hash-key KEY`` prints the line for a key,
``facerec serve --new-key`` makes a random key and prints it with its line. Keys are
high-entropy random strings, so a plain (unsalted, fast) hash is enough: nobody can
brute-force 32 random bytes, and a leaked keys file reveals no key.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from typing import TYPE_CHECKING

from .config import is_loopback

if TYPE_CHECKING:
    from .config import ServeConfig

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def hash_key(key: str) -> str:
    """The line stored in the keys file for ``key``: its sha256, 64 hex digits."""
    if not key or key != key.strip():
        raise ValueError("an API key must be non-empty and have no surrounding whitespace")
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random API key (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def load_key_hashes(path: str | os.PathLike) -> frozenset[str]:
    """The digests in a keys file; ``ValueError`` naming the first malformed line."""
    hashes = set()
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip().lower()
            if not line:
                continue
            if not _HEX64.match(line):
                raise ValueError(f"{path}:{number}: expected a sha256 hex digest (64 hex digits); "
                                 "make one with 'facerec serve --hash-key KEY'")
            hashes.add(line)
    if not hashes:
        raise ValueError(f"{path}: no API key hashes in the file")
    return frozenset(hashes)


def key_required(config: "ServeConfig", write: bool) -> bool:
    """THE access rule: whether a ``/v1`` route needs a valid API key under ``config``.

    * ``--no-auth``: no route does.
    * Writes (enroll, remove): always.
    * Reads (detect, verify, search, the galleries and identity listings): only when the
      service listens beyond this machine (a host that is not loopback), unless
      ``--open-reads`` opens them on purpose. On loopback (the local demo) reads stay open.

    ``/healthz``, ``/metrics``, ``/docs`` and the page need no key anywhere: they show the
    model, limits and gallery names and sizes, never who is enrolled.
    """
    if not config.auth:
        return False
    if write:
        return True
    return not (config.open_reads or is_loopback(config.host))


def key_digest(key: str) -> str:
    """sha256 hex digest of a presented key (what the keys file holds)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_matches(key: str | None, hashes: frozenset[str]) -> bool:
    """Whether ``key`` hashes to one of ``hashes``; every digest is compared (with
    :func:`hmac.compare_digest`), so the time taken says nothing about which one matched."""
    if not key:
        return False
    digest = key_digest(key)
    found = False
    for h in hashes:
        found |= hmac.compare_digest(digest, h)
    return found
