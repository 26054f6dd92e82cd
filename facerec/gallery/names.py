"""Identity names: validated user data, never used as file names.

A gallery stores names inside JSON (FAISS) or a VARCHAR field (Milvus), so ``"a/b"``,
``".."`` or ``"Zoë 张"`` are ordinary names; only names that would be invisible or
ambiguous when printed are refused.
"""
from __future__ import annotations

import unicodedata

#: Longest accepted name, in characters (Milvus stores at most 1024 UTF-8 bytes = 256 × 4).
MAX_NAME_LENGTH = 256
_REFUSED_CATEGORIES = ("Cc", "Cs", "Zl", "Zp")


def validate_identity(name: object) -> str:
    """Return ``name`` unchanged if it is a usable identity name, else raise ``ValueError``.

    Refused: non-strings, empty or whitespace-only names, names longer than
    :data:`MAX_NAME_LENGTH`, control characters (Unicode Cc, e.g. ``"\\n"``, ``"\\x00"``,
    ``"\\x1b"``), line/paragraph separators (Zl, Zp) and lone surrogates (Cs): they break
    one-line output and logs. Format characters (Cf) stay allowed: ZWNJ is part of correct
    Persian spelling. Names are not normalised or stripped: what the caller enrolls is what
    search returns.
    """
    if not isinstance(name, str):
        raise ValueError(f"identity name must be a string, got {type(name).__name__}")
    if not name.strip():
        raise ValueError("identity name must not be empty or whitespace only")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"identity name is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}")
    for ch in name:
        if unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise ValueError(f"identity name {name!r} contains the control character U+{ord(ch):04X}")
    return name
