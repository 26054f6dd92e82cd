"""The service's routes, one :class:`fastapi.APIRouter` per tag: :mod:`.faces` (detect,
verify), :mod:`.galleries` (list, enroll, remove, search) and :mod:`.operations` (health,
metrics). Shared state comes through :mod:`pipelines.serve.deps`."""
