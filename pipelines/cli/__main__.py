"""``python -m pipelines.cli ARGS`` = ``facerec ARGS`` (this checkout's code first on sys.path)."""
import sys

from . import main

sys.exit(main())
