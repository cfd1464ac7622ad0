"""The labeling dashboard in Chromium on 20-megapixel frames: page interactive, next image, save after an edit.

Voila serves nbs/dashboards/labeling.ipynb on 127.0.0.1 as `dronemlops label` does; Playwright drives Debian's
Chromium. The frames are bench_labeling.py's 5472 x 3648 JPEGs (the sample's large frame tiled).

- page interactive: from `goto` until the frame and its title are shown (a new kernel runs the dashboard notebook).
  Reference, in the same run: a Voila page holding one ipywidgets button, until the button is shown.
- next image: from pressing N (save as labeled, step the queue, decode at display size, send the JPEG) until the next
  frame's title is shown. Reference: `display_image` of the same frames in this process (the decode alone). Goal <= 300 ms
  for the decode; the page figure adds the kernel round trip and the browser's own decode.
- save: from releasing the mouse on a drawn box until the record on disk has the new revision.

usage: nice python bench/bench_labeler_page.py [--frames 4] [--loads 3]
"""
import argparse, json, os, signal, statistics, sys, tempfile, time
from pathlib import Path
import nbformat
from playwright.sync_api import sync_playwright
sys.path.insert(0, str(Path(__file__).parent))
from bench_labeling import make_frame, W, H
from dronemlops.config import load_settings
from dronemlops.labeling import create_project, display_image
from dronemlops.labeler import start_dashboard
from dronemlops.testing import free_port, wait_for_http

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

def reference_page(tmp:Path, env:dict):
    "Voila on a notebook holding one button: the floor for any Voila page on this machine."
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import ipywidgets as w\nw.Button(description='ready')")])
    p = tmp/"reference.ipynb"; nbformat.write(nb, p)
    port = free_port()
    proc = __import__("subprocess").Popen([sys.executable, "-m", "voila", str(p), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"],
                                          env={**os.environ, **env}, stdout=open(tmp/"ref.log", "w"), stderr=-2, start_new_session=True)
    wait_for_http(f"http://127.0.0.1:{port}/voila/static/favicon.ico", 120, proc=proc)
    return proc, f"http://127.0.0.1:{port}/"

def timed_load(browser, url, ready) -> float:
    page = browser.new_page(viewport={"width": 1700, "height": 1100})
    t = time.perf_counter(); page.goto(url); ready(page); dt = time.perf_counter() - t
    page.close(); return dt

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--frames", type=int, default=4); ap.add_argument("--loads", type=int, default=3)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-labeler-")); (tmp/"frames").mkdir(); (tmp/"home").mkdir()
    names = [make_frame(tmp/"frames"/f"frame_{i:02d}.jpg", i).name for i in range(a.frames)]
    s = load_settings(env={}, cwd=tmp, workspace=str(tmp/"ws"))
    proj = create_project("bench", tmp/"frames", ["Tree"], settings=s)
    env = {"HOME": str(tmp/"home")}
    proc, url = start_dashboard("bench", who="bench", settings=s, env=env)
    rproc, rurl = reference_page(tmp, env)
    rec_path = lambda n: tmp/"ws"/"labeling"/"bench"/"records"/f"{n}.json"
    rev = lambda n: json.loads(rec_path(n).read_text())["revision"] if rec_path(n).exists() else 0
    try:
        with sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=os.environ.get("CHROME_BIN", "/usr/bin/chromium"), args=ARGS)
            frame_ready = lambda page: page.get_by_text(f"{names[0]} (1/").wait_for(timeout=120000)
            ref_ready = lambda page: page.get_by_role("button", name="ready").wait_for(timeout=120000)
            loads = [timed_load(b, url, frame_ready) for _ in range(a.loads)]
            refs = [timed_load(b, rurl, ref_ready) for _ in range(a.loads)]
            page = b.new_page(viewport={"width": 1700, "height": 1100}); page.goto(url); frame_ready(page)
            page.wait_for_timeout(800)
            img = page.locator(".dm-labeler .wrapper .image img").bounding_box()
            saves, nexts = [], []
            for i, n in enumerate(names):
                before = rev(n)
                x, y = round(img["x"] + 100 + 20 * i), round(img["y"] + 100)
                page.mouse.move(x, y); page.mouse.down(); page.mouse.move(x + 60, y + 50, steps=4)
                t = time.perf_counter(); page.mouse.up()
                while rev(n) == before: time.sleep(0.002)
                saves.append(time.perf_counter() - t)
                page.wait_for_timeout(300)
                if i + 1 < len(names):
                    t = time.perf_counter(); page.keyboard.press("n")
                    page.get_by_text(f"{names[i + 1]} ({i + 2}/").wait_for(timeout=60000)
                    nexts.append(time.perf_counter() - t)
                    page.wait_for_timeout(800)
            b.close()
    finally:
        for p in (proc, rproc): os.killpg(p.pid, signal.SIGKILL)
    decode = []
    for n in names:
        t = time.perf_counter(); display_image(proj, n); decode.append(time.perf_counter() - t)
    ms = lambda v: statistics.median(v) * 1000
    print(f"{len(names)} frames of {W}x{H} (20 MP), load {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"page interactive      {ms(loads):7.0f} ms (median of {len(loads)}); one-button Voila page {ms(refs):.0f} ms -> ratio {ms(loads) / ms(refs):.2f}")
    print(f"next image in page    {ms(nexts):7.0f} ms (median of {len(nexts)}); display_image alone {ms(decode):.0f} ms -> ratio {ms(nexts) / ms(decode):.2f}")
    print(f"save after an edit    {ms(saves):7.0f} ms (median of {len(saves)}, mouse release to the record on disk)")

if __name__ == "__main__":
    main()
