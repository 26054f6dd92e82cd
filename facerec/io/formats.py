"""The version check of facerec's JSON documents (``{"format": ..., "version": N, ...}``): one
rule for every file a user's work lives in (``clusters.json``, ``decisions.json``), so an old
facerec never misreads or overwrites a newer one's file (``docs/formats.md`` lists them all)."""
from __future__ import annotations

from typing import Any

from facerec.errors import FacerecError, NewerFormat


def check_version(doc: Any, fmt: str, reads_up_to: int, where: str, *, advice: str = "upgrade facerec",
                  invalid: type[Exception] = FacerecError) -> int:
    """The version of ``doc`` (a parsed JSON document whose ``"format"`` must be ``fmt``).

    ``where``: the file, to start each message. ``invalid`` (default :class:`FacerecError`) for
    a document that is not one or has no valid version; :class:`NewerFormat` for a version
    above ``reads_up_to``, with ``advice`` on what to do.
    """
    what = fmt.rsplit(".", 1)[-1]
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise invalid(f"{where}: not a facerec {what} file")
    version = doc.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise invalid(f"{where}: no valid format version ({version!r})")
    if version > reads_up_to:
        raise NewerFormat(f"{where}: {what} format version {version} was written by a newer facerec "
                          f"(this one reads up to {reads_up_to}); {advice}")
    return version
