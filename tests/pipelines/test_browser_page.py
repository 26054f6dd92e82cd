"""The page at `/` in a real headless Chromium (selenium + Debian's chromium-driver).

Needs ``apt-get install -y chromium chromium-driver`` and ``pip install selenium``; skips
with the reason when they are missing (fails instead when ``FACEREC_REQUIRE_BROWSER`` is set). Writes a screenshot to ``$FACEREC_ARTIFACTS`` (or
the test's tmp folder) as ``serve_page.png``.

Oracle: the API's own answer for the same photos (with a random-weight model the verdict
for two different people is arbitrary, so the page must show exactly what the API says;
the same photo twice must read "same").
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install selenium)")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from facerec import FaceRecognizer  # noqa: E402
from facerec.client import FaceRecognitionClient  # noqa: E402
from pipelines.serve import ServeConfig, create_app  # noqa: E402
from pipelines.serve.auth import hash_key  # noqa: E402
from pipelines.serve.server import serve_in_thread  # noqa: E402

KEY = "browser-test-key"


@pytest.fixture(scope="module")
def server(random_model: Path, tmp_path_factory):
    rec = FaceRecognizer.load(random_model)
    cfg = ServeConfig(gallery_dir=tmp_path_factory.mktemp("page_galleries"),
                      api_key_hashes=frozenset({hash_key(KEY)}), workers=2)
    with serve_in_thread(create_app(cfg, rec)) as url:
        yield url


def _verify_on_page(driver, a: Path, b: Path) -> tuple[str, str]:
    driver.find_element(By.ID, "verify-a").send_keys(str(a))
    driver.find_element(By.ID, "verify-b").send_keys(str(b))
    driver.execute_script("document.getElementById('verify-result').dataset.state = 'idle'")
    driver.find_element(By.ID, "verify-run").click()
    result = driver.find_element(By.ID, "verify-result")
    WebDriverWait(driver, 60).until(lambda d: result.get_attribute("data-state") in ("done", "error"))
    assert result.get_attribute("data-state") == "done", driver.find_element(By.ID, "verify-error").text
    verdict = driver.find_element(By.ID, "verify-verdict")
    return verdict.text, verdict.get_attribute("data-same")


def test_page_verifies_enrolls_and_searches(browser, server: str, lfw_dir: Path, tmp_path: Path) -> None:
    api = FaceRecognitionClient(server, api_key=KEY)
    aaron = lfw_dir / "Aaron_Eckhart" / "Aaron_Eckhart_0001.jpg"
    powell = [lfw_dir / "Colin_Powell" / f"Colin_Powell_000{i}.jpg" for i in (1, 2)]
    blair = lfw_dir / "Tony_Blair" / "Tony_Blair_0001.jpg"
    browser.get(server + "/")
    WebDriverWait(browser, 30).until(lambda d: "model" in d.find_element(By.ID, "health").text)

    text, same = _verify_on_page(browser, aaron, aaron)
    assert (text, same) == ("SAME person", "true")
    crops = [browser.find_element(By.ID, i) for i in ("verify-crop-a", "verify-crop-b")]
    assert all(browser.execute_script("return arguments[0].naturalWidth", c) == 112 for c in crops)
    for a, b in ((powell[0], powell[1]), (powell[0], blair)):  # the page shows what the API answers
        want = api.verify(a, b)
        text, same = _verify_on_page(browser, a, b)
        assert same == str(want.same).lower()
        assert text == ("SAME person" if want.same else "DIFFERENT people")
        assert f"score {want.score:.4f}" in browser.find_element(By.ID, "verify-score").text

    # Enroll with the key typed into the page, then search: boxes drawn, identity listed.
    browser.find_element(By.ID, "api-key").send_keys(KEY)
    browser.find_element(By.ID, "enroll-name").send_keys("Tony Blair")
    browser.find_element(By.ID, "enroll-files").send_keys(str(blair))
    browser.find_element(By.ID, "enroll-run").click()
    out = browser.find_element(By.ID, "enroll-result")
    WebDriverWait(browser, 60).until(lambda d: out.get_attribute("data-state") in ("done", "error"))
    assert out.get_attribute("data-state") == "done", browser.find_element(By.ID, "enroll-error").text
    assert api.identities() == ["Tony Blair"]
    browser.find_element(By.ID, "search-file").send_keys(str(blair))
    browser.find_element(By.ID, "search-run").click()
    res = browser.find_element(By.ID, "search-result")
    WebDriverWait(browser, 60).until(lambda d: res.get_attribute("data-state") in ("done", "error"))
    assert res.get_attribute("data-state") == "done", browser.find_element(By.ID, "search-error").text
    faces = browser.find_elements(By.CSS_SELECTOR, "#search-faces li")
    assert len(faces) == 1 and faces[0].text.startswith("Tony Blair")  # its own photo: cosine 1
    canvas = browser.find_element(By.ID, "search-canvas")
    width = browser.execute_script("return arguments[0].width", canvas)
    assert width == 500  # 250 px LFW photo, shown at 2×
    # The box is drawn in green (known identity) at the detection's left edge.
    box = api.search(blair)[0].detection.box * (width / 250)
    x, y = int(box[0]), int((box[1] + box[3]) / 2)
    rgba = browser.execute_script(
        "return Array.from(arguments[0].getContext('2d').getImageData(arguments[1]-1, arguments[2], 3, 1).data)",
        canvas, x, y)
    greens = [rgba[i:i + 4] for i in range(0, len(rgba), 4)]
    assert any(p[1] > 150 and p[0] < 100 and p[2] < 150 for p in greens), greens

    # Writes without a key are refused on the page too.
    browser.find_element(By.ID, "api-key").clear()
    browser.find_element(By.ID, "enroll-name").send_keys(" 2")
    browser.find_element(By.ID, "enroll-run").click()
    WebDriverWait(browser, 60).until(lambda d: out.get_attribute("data-state") == "error")
    assert "unauthorized" in browser.find_element(By.ID, "enroll-error").text

    shot = Path(os.environ.get("FACEREC_ARTIFACTS") or tmp_path) / "serve_page.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(shot))
    print(f"screenshot: {shot}")


def test_api_docs_render_without_internet(browser, server: str) -> None:
    """/docs is served from local files (no CDN): Swagger UI lists every operation."""
    pytest.importorskip("swagger_ui_bundle", reason="swagger-ui-bundle-v2 not installed: /docs uses a CDN")
    browser.get(server + "/docs")
    WebDriverWait(browser, 30).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 9)
    paths = {e.text.replace("\u200b", "") for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    assert "/v1/verify" in paths and "/v1/galleries/{name}/search" in paths
