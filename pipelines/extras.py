"""Optional parts of the install: ``pip install 'facerec[serve]'`` (the HTTP service) and
``'facerec[plot]'`` (ROC and training-curve images). The inference library needs neither.
The rule lives in :mod:`facerec.extras` (torch's ``facerec[train]`` too); re-exported here."""
from __future__ import annotations

from facerec.extras import MissingExtra, require

__all__ = ["MissingExtra", "require"]
