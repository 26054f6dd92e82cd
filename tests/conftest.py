"""Shared fixtures: where the real face data lives, and small real images."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipelines.paths import data_dir as default_data_dir

# `make test` runs two xdist workers on the two cores: one compute thread each (torch/OpenMP and
# onnxruntime), so two heavy tests side by side do not oversubscribe the CPU. Measured: the ORL
# distillation test took 136 s in one run and 280 s in another, depending on what the other
# worker ran beside it with two threads of its own. Set before any test module imports torch.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "FACEREC_ORT_THREADS"):
        os.environ.setdefault(_var, "1")
    import cv2  # YuNet runs on OpenCV's own thread pool

    cv2.setNumThreads(1)


def _data_dir() -> Path | None:
    p = default_data_dir()
    return p if p.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """``$FACEREC_DATA_DIR`` (default ../shared/data). In CI (FACEREC_REQUIRE_DATA or CI set)
    a missing folder fails the test; elsewhere it skips with the reason."""
    p = _data_dir()
    if p is None:
        msg = "real face data not found: set FACEREC_DATA_DIR to the shared data folder (../shared/data)"
        if os.environ.get("FACEREC_REQUIRE_DATA") or os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return p


@pytest.fixture(scope="session")
def lfw_dir(data_dir: Path) -> Path:
    return data_dir / "lfw"


@pytest.fixture(scope="session")
def orl_dir(data_dir: Path) -> Path:
    return data_dir / "orl"


@pytest.fixture(scope="session")
def aaron(lfw_dir: Path) -> Path:
    """A real LFW image with exactly one face."""
    return lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"


@pytest.fixture(scope="session")
def mtcnn():
    from facerec import MTCNNDetector

    return MTCNNDetector()


@pytest.fixture(scope="session")
def random_model(tmp_path_factory) -> Path:
    """A random-weight MobileFaceNet checkpoint with a stated threshold (0.5), for plumbing
    tests that must not depend on a trained model."""
    import torch

    from facerec import Embedder

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "random_mbf.pt"
    Embedder.create("mobilefacenet", metadata={"threshold": 0.5}).save(path)
    return path


@pytest.fixture(scope="session")
def installed_model():
    """``installed_model(name)`` → the registry spec of a named model that setup installed.
    In CI (FACEREC_REQUIRE_DATA or CI set) a missing model fails the test; elsewhere it skips."""
    from facerec.models import get_model

    def need(name: str | None = None):
        spec = get_model(name)
        if not spec.installed():
            msg = f"model {spec.name} is not installed: run 'make setup' or '{spec.install_command()}'"
            if os.environ.get("FACEREC_REQUIRE_DATA") or os.environ.get("CI"):
                pytest.fail(msg)
            pytest.skip(msg)
        return spec

    return need


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Debian Chromium driven by selenium (module-scoped). Where the browser must be
    there (``FACEREC_REQUIRE_BROWSER``, set by CI) a missing one fails the test; elsewhere it skips."""
    import shutil

    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install selenium)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        msg = "chromium / chromedriver not found: apt-get install -y chromium chromium-driver"
        if os.environ.get("FACEREC_REQUIRE_BROWSER"):
            pytest.fail(msg)
        pytest.skip(msg)
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    # No background networking: this machine's closed network refuses Chromium's own connections.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1200,1800",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver_path))
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
