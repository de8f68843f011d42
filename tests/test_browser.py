"""The λ explorer in a real browser: JupyterLab in headless Chromium, slider moved, image redrawn.

The test starts its own JupyterLab (this interpreter's ``-m jupyterlab``, so the ``embcompat``
kernelspec installed with ``--sys-prefix`` is found) on 127.0.0.1, a free port and a token, over a
temporary folder holding a two-cell notebook: read a fabricated sweep frame
(``test_widgets._tidy``, no training), call ``show_explorer``. Playwright drives the system Chromium
(``/usr/bin/chromium``; it never downloads a browser). Skipped when either is missing.
"""
from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from embcompat.utils import project_root

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
KERNEL = "embcompat"
START_S = 180       # server start, kernel start + imports, first draw: generous for 2 busy cores
REDRAW_S = 120
NOTEBOOK = "explorer.ipynb"
# The explorer's image: the only ipywidgets.Image in the notebook. Its src is a blob: URL.
IMAGE = ".jp-OutputArea-output .widget-image"
SLIDER_HANDLE = ".jp-OutputArea-output .widget-slider .noUi-handle"
READOUT = ".jp-OutputArea-output .widget-slider .widget-readout"
# The bytes behind an <img> (a blob: or data: URL), base64-encoded.
IMAGE_BYTES_JS = """async (img) => {
  const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
  let s = ""; for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_notebook(root: Path) -> None:
    here = str(Path(__file__).parent)
    if here not in sys.path:  # pytest's default import mode has put it there already
        sys.path.insert(0, here)
    from test_widgets import _tidy  # the fabricated per-version sweep frame

    _tidy().to_pickle(root / "sweep.pkl")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python (embcompat)",
                                 "language": "python"}
    lib = str(project_root() / "lib")
    nb.cells = [nbformat.v4.new_code_cell("import embcompat\n"
                                          f"assert embcompat.__file__.startswith({lib!r})\n"
                                          "import pandas as pd\n"
                                          "from embcompat.backward.widgets import show_explorer\n"
                                          "sweep = pd.read_pickle('sweep.pkl')"),
                nbformat.v4.new_code_cell("explorer = show_explorer(sweep)")]
    nbformat.write(nb, root / NOTEBOOK)


def _log_tail(log: Path, n: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-n:])


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server over a folder holding the explorer notebook:
    ``(base_url, token, log_path)``.

    Shut down through its API (which stops the kernels), else terminated, in the finalizer."""
    pytest.importorskip("playwright.sync_api",
                        reason="playwright is not installed (pip install playwright; browsers are "
                               "not needed: the system Chromium is used)")
    if not CHROMIUM.exists():
        pytest.skip(f"no system Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        KernelSpecManager().get_kernel_spec(KERNEL)
    except NoSuchKernel:
        pytest.fail(f"no Jupyter kernel {KERNEL!r}: run `make setup`, or `{sys.executable} -m "
                    f"ipykernel install --sys-prefix --name {KERNEL}`")
    tmp = tmp_path_factory.mktemp("lab")
    root, home = tmp / "root", tmp / "jupyter"
    root.mkdir()
    _write_notebook(root)
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(home / "config"),
               JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    env["PYTHONPATH"] = os.pathsep.join(  # the kernel imports this checkout's embcompat
        [str(project_root() / "lib")] + [p for p in [env.get("PYTHONPATH")] if p])
    env.pop("MPLBACKEND", None)  # a kernel as a user has it, inline plotting not yet drawn
    log = tmp / "jupyterlab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
           # offline: no news, update checks or extension index
           "--LabApp.news_url=None",
           "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
           "--LabApp.extension_manager=readonly"]
    if os.geteuid() == 0:  # CI containers run as root
        cmd.append("--allow-root")
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{_log_tail(log)}")
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"jupyter lab did not answer on {base} in {START_S} s:\n"
                                f"{_log_tail(log)}")
                time.sleep(0.5)
        yield base, token, log
    finally:
        try:
            urllib.request.urlopen(urllib.request.Request(
                f"{base}/api/shutdown?token={token}", method="POST"), timeout=10).close()
            proc.wait(timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_moving_the_lambda_slider_redraws_the_explorer_image(lab):
    from playwright.sync_api import expect, sync_playwright

    base, token, log = lab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                    args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1200})
            page.set_default_timeout(START_S * 1000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/lab/tree/{NOTEBOOK}?token={token}&reset")
            # the notebook loaded (both cells) and its kernel started: else Run All does nothing
            wait_ms = START_S * 1000
            expect(page.locator(".jp-Notebook .jp-Cell")).to_have_count(2, timeout=wait_ms)
            expect(page.locator("#jp-main-statusbar")).to_contain_text("(embcompat) | Idle",
                                                                      timeout=wait_ms)
            page.locator('.lm-MenuBar-itemLabel:text-is("Run")').click()          # menu Run >
            page.locator('.lm-Menu-item:has(.lm-Menu-itemLabel:text-is("Run All Cells"))').click()
            image = page.locator(IMAGE)
            try:
                image.wait_for(state="visible")
            except Exception as e:
                outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
                raise AssertionError(f"no explorer image after Run All; cell outputs: {outputs}; "
                                     f"page errors: {errors}; server log:\n{_log_tail(log)}") from e
            readout = page.locator(READOUT)
            expect(readout).to_have_text("16", timeout=REDRAW_S * 1000)  # the default λ
            before = image.evaluate(IMAGE_BYTES_JS)
            assert before.startswith("iVBORw0KGgo"), before[:20]   # base64 of the PNG signature

            page.locator(SLIDER_HANDLE).focus()
            page.keyboard.press("ArrowLeft")                       # λ 16 -> 4
            expect(readout).to_have_text("4", timeout=REDRAW_S * 1000)
            deadline = time.monotonic() + REDRAW_S
            while (after := image.evaluate(IMAGE_BYTES_JS)) == before:
                assert time.monotonic() < deadline, (
                    f"the slider moved to λ=4 but the image stayed the λ=16 one for "
                    f"{REDRAW_S} s; page errors: {errors}")
                time.sleep(0.5)
            assert after.startswith("iVBORw0KGgo"), after[:20]
        finally:
            browser.close()
