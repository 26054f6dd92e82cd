"""The README's contact-sheet figure: ``facerec cluster`` on every photo of 12 LFW people, its
``index.html`` rendered in headless Chromium.

    python -m benchmarks.cluster_contact_sheet [--out benchmarks/figures/cluster_contact_sheet.png]
        [--min-size 2] [--width 1000] [--keep DIR]

The photos (``$FACEREC_DATA_DIR/lfw/<Name>/*.jpg``, 4–8 each: 64 photos) are linked into a
temporary ``photos/<Name>/`` tree and clustered with the default model by
:func:`pipelines.cluster.cluster_photos`, the workflow ``facerec cluster photos --out clusters
--min-size 2`` runs, so the page shows exactly what the command writes. Every face is clustered,
so people in the background of a photo appear too (single faces: in "unclustered" at the
end). The screenshot is the whole page at ``--width`` CSS pixels, saved as 8-bit grey (LFW
here is grey) to keep the file small. Needs selenium and Debian's ``chromium
chromium-driver``. Prints the clusters against the folder names (pairwise and BCubed F1).
"""
from __future__ import annotations

import argparse
import base64
import io
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

PEOPLE = ("Al_Gore", "Angela_Merkel", "Ben_Affleck", "Ashanti", "Amelia_Vega", "Benazir_Bhutto", "Antonio_Banderas",
          "Billy_Crystal", "Bruce_Springsteen", "Alec_Baldwin", "Adam_Sandler", "Barbara_Walters")
DEFAULT_OUT = Path(__file__).parent / "figures" / "cluster_contact_sheet.png"


def render(html: Path, png: Path, width: int) -> None:
    """Screenshot of the whole page (every thumbnail loaded) in headless Chromium."""
    from selenium import webdriver
    from selenium.webdriver.support.ui import WebDriverWait

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        raise SystemExit("chromium / chromedriver not found: apt-get install -y chromium chromium-driver")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    with tempfile.TemporaryDirectory() as profile:
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                     "--disable-background-networking", "--disable-component-update", "--hide-scrollbars",
                     "--force-device-scale-factor=1", f"--window-size={width},800", f"--user-data-dir={profile}"):
            opts.add_argument(flag)
        driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver_path))
        try:
            driver.get(html.resolve().as_uri())
            WebDriverWait(driver, 30).until(lambda d: d.execute_script(
                "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)"))
            # The whole page in one capture: a viewport as tall as the document.
            height = int(driver.execute_script("return document.documentElement.scrollHeight"))
            driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                   {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
            shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        finally:
            driver.quit()
    with Image.open(io.BytesIO(base64.b64decode(shot["data"]))) as img:
        img.convert("L").save(png, optimize=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="PNG to write (default: %(default)s)")
    ap.add_argument("--min-size", type=int, default=2, help="facerec cluster --min-size (default: 2)")
    ap.add_argument("--width", type=int, default=1000, help="page width in CSS pixels (default: 1000)")
    ap.add_argument("--keep", type=Path, help="also copy the cluster folder here")
    args = ap.parse_args(argv)

    from facerec import FaceRecognizer
    from facerec.metrics.cluster_metrics import cluster_scores
    from pipelines.cluster import cluster_photos
    from pipelines.paths import data_dir

    lfw = data_dir() / "lfw"
    rec = FaceRecognizer.load()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)  # relative paths: the page's header names "clusters/ID", not a temp folder
        try:
            for person in PEOPLE:
                (Path("photos") / person).mkdir(parents=True)
                for f in sorted((lfw / person).glob("*.jpg")):
                    (Path("photos") / person / f.name).symlink_to(f)
            report = cluster_photos(rec, ["photos"], "clusters", min_size=args.min_size, progress=True)
            # Truth for the score: the photo's folder, for the face nearest the centre of each
            # photo only (the others are bystanders with no label).
            central = {}
            for f in report.faces:
                d = float(np.hypot(*(f.detection.center - 125)))
                if f.photo not in central or d < central[f.photo][0]:
                    central[f.photo] = (d, f)
            labelled = [f for _, f in central.values()]
            s = cluster_scores(np.array([Path(f.photo).parent.name for f in labelled]),
                               np.array([f.cluster for f in labelled]))
            print(f"{report.photos} photos, {len(report.faces)} faces: {len(report.clusters())} clusters, "
                  f"{len(report.unclustered)} unclustered; labelled faces: pairwise F1 {s.pairwise_f1:.3f}, "
                  f"BCubed F1 {s.bcubed_f1:.3f} ({report.seconds:.1f} s)")
            args.out.parent.mkdir(parents=True, exist_ok=True)
            out_png = Path(cwd) / args.out if not args.out.is_absolute() else args.out
            render(Path("clusters") / "index.html", out_png, args.width)
            if args.keep:
                keep = Path(cwd) / args.keep if not args.keep.is_absolute() else args.keep
                shutil.copytree("clusters", keep, dirs_exist_ok=True)
        finally:
            os.chdir(cwd)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
