"""Benchmark: scan + validate a YOLO dataset with dronemlops vs Ultralytics' own verify_image_label, on cold files.

Both contenders read the same files, evicted from the page cache (os.sync, then posix_fadvise DONTNEED on every file)
before each run. Ultralytics is run the way it runs itself (`YOLODataset.cache_labels`: a ThreadPool of NUM_THREADS =
cpu_count - 1, so 1 on a 2-core machine, over verify_image_label); its list of image/label pairs is made before its clock
starts. dronemlops runs `validate_local`, whose time includes listing and pairing the files, data.yaml, dataset_info.json
and the report, and which checks more (SHA-256 of every byte against the build's checksums, leakage and duplicates by
content, full decode of any image the checksum does not prove, every label line, pairing, schema). Imports are done
before either clock starts.
Each run is a fresh subprocess, so its peak RSS and CPU time are its own. Prints images/s, CPU seconds, the ratio, peak memory
at 1x and 10x files, and the machine's load average (on a shared machine the ratios move with it).

usage: python bench/bench_validate.py [--n 200] [--repeat 3]
"""
import argparse, json, os, random, subprocess, sys, tempfile
from pathlib import Path

def make_corpus(work: Path, n: int, seed: int = 0) -> Path:
    "n real aerial tiles (random 200-480 px crops of the sample frames), half PNG half JPEG, built into a dataset version; returns its folder."
    from PIL import Image
    from dronemlops.config import load_settings
    from dronemlops.sample import sample_files
    from dronemlops.annotations import read_voc
    from dronemlops.dataset import crop_annotations, build_dataset
    files = sample_files()
    names = {0: "Alive", 1: "Dead", 2: "Tree"}
    src = [(Image.open(files[f"{s}.png"]).convert("RGB"), read_voc(files[f"{s}.xml"], names=names))
           for s in ("2019_YELL_2_541000_4977000_image_crop", "OSBS_029", "SOAP_061")]
    rng = random.Random(seed)
    raw = work/"raw"; raw.mkdir(parents=True)
    anns, used = [], set()
    for i in range(n):
        k = 0 if i % 4 else 1 + (i // 4) % 2
        im, ann = src[k]
        while True:  # no two tiles alike: the builder refuses duplicate content
            side = rng.randint(320, 480) if im.width > 480 else rng.randint(200, 399)
            x, y = rng.randint(0, im.width - side), rng.randint(0, im.height - side)
            if (k, side, x, y) not in used: used.add((k, side, x, y)); break
        name = f"tile_{i:06d}" + (".jpg" if i % 2 else ".png")
        im.crop((x, y, x + side, y + side)).save(raw/name, **({"quality": 90} if i % 2 else {}))
        anns.append(crop_annotations(ann, (x, y, x + side, y + side)).replace(image=name))
    s = load_settings(env={}, cwd=work, workspace=str(work/"ws"))
    build_dataset(raw, anns, f"bench_{n}_20261125_1200", names=names, val_fraction=0.2, settings=s, seed=seed)
    return work/"ws"/"datasets"/f"bench_{n}_20261125_1200"

def evict(root: Path) -> None:
    "Drop the corpus from the page cache so the next reader starts cold."
    os.sync()
    for p in root.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try: os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally: os.close(fd)

PEER = """
import sys, json, time, resource
from pathlib import Path
from multiprocessing.pool import ThreadPool
from ultralytics.data.utils import verify_image_label
from ultralytics.utils import NUM_THREADS
root = Path(sys.argv[1])
pairs = [(str(p), str(p.parent.parent/"labels"/(p.stem + ".txt")), "", False, 3, 0, 0, False)
         for s in ("train", "val") for p in sorted((root/s/"images").iterdir())]
cpu = lambda: (lambda r: r.ru_utime + r.ru_stime)(resource.getrusage(resource.RUSAGE_SELF))
t, c = time.perf_counter(), cpu()
with ThreadPool(NUM_THREADS) as pool: res = list(pool.imap(verify_image_label, pairs))
dt = time.perf_counter() - t
print("RESULT", json.dumps({"seconds": dt, "cpu_seconds": cpu() - c, "images": len(pairs), "corrupt": sum(r[8] for r in res), "threads": NUM_THREADS,
                            "peak_rss_mb": peak_rss_mb()}))
"""

OURS = """
import sys, json, time
from pathlib import Path
from dronemlops.config import load_settings
from dronemlops.validate import validate_local
root = Path(sys.argv[1])
s = load_settings(env={}, cwd=root.parent)
import resource
cpu = lambda: (lambda r: r.ru_utime + r.ru_stime)(resource.getrusage(resource.RUSAGE_SELF))
base = peak_rss_mb()
t, c = time.perf_counter(), cpu()
rep = validate_local(root, min_train_images=0, min_val_images=0, settings=s, decode=sys.argv[2] if sys.argv[2] == "always" else True)
dt = time.perf_counter() - t
n = sum(v["images"] for v in rep.stats.values())
assert rep.ok, rep.summary()
print("RESULT", json.dumps({"seconds": dt, "cpu_seconds": cpu() - c, "images": n, "errors": len(rep.errors), "base_rss_mb": base,
                            "peak_rss_mb": peak_rss_mb(), "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""

PRE = """
from dronemlops.config import load_settings, apply_environment
import tempfile; apply_environment(load_settings(env={}, workspace=tempfile.mkdtemp()))
def peak_rss_mb():
    "This process's own peak RSS (VmHWM): ru_maxrss would also count the parent's memory at spawn time, kept across exec on Linux."
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"): return int(line.split()[1]) / 1024
"""

def run(code: str, root: Path, mode: str = "") -> dict:
    "Run one contender in a fresh process on cold files; it reports its own time and peak RSS."
    evict(root)
    r = subprocess.run([sys.executable, "-c", PRE + code, str(root), mode], capture_output=True, text=True)
    if r.returncode: sys.exit(r.stderr[-3000:])
    return json.loads(r.stdout.split("RESULT", 1)[1])

ALWAYS = "dronemlops, decode='always'"
PEER_NAME, OURS_NAME = "ultralytics verify_image_label", "dronemlops validate_local"

def main():
    ap = argparse.ArgumentParser(); ap.add_argument("--n", type=int, default=200); ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        small, big = make_corpus(Path(d)/"x1", a.n), make_corpus(Path(d)/"x10", 10*a.n, seed=1)
        mb = sum(p.stat().st_size for p in small.rglob("*") if p.is_file()) / 1e6
        best_ours = {}
        print(f"corpus: a dataset version of {a.n} real aerial tiles ({mb:.1f} MB; half PNG, half JPEG) and one of {10*a.n}; "
              f"cold reads (page cache evicted before every run); {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
        for label, root in ((f"{a.n} images", small), (f"{10*a.n} images", big)):
            best = {}
            for name, code, mode in ((PEER_NAME, PEER, ""), (OURS_NAME, OURS, ""), (ALWAYS, OURS, "always")):
                runs = [run(code, root, mode) for _ in range(a.repeat)]
                best[name] = r = min(runs, key=lambda r: r["seconds"])
                mem = f"peak RSS {r['peak_rss_mb']:.0f} MB" + (f", {r['base_rss_mb']:.0f} MB before validating" if "base_rss_mb" in r else "") + (f" (+ workers {r['worker_peak_rss_mb']:.0f} MB each)" if r.get("worker_peak_rss_mb") else "")
                print(f"[{label}] {name:<32} {r['images']/r['seconds']:7.0f} images/s  (best of {a.repeat}: {r['seconds']:.3f} s, "
                      f"{r['cpu_seconds']:.3f} CPU s; {mem}" + (f"; {r['threads']} thread(s)" if "threads" in r else "") + ")")
            rate = {k: v["images"]/v["seconds"] for k, v in best.items()}
            print(f"[{label}] ratio dronemlops/ultralytics: {rate[OURS_NAME]/rate[PEER_NAME]:.2f}x (goal >= 2x); "
                  f"with a full decode of every image: {rate[ALWAYS]/rate[PEER_NAME]:.2f}x; "
                  f"CPU time per image: {best[OURS_NAME]['cpu_seconds']/best[PEER_NAME]['cpu_seconds']:.2f}x Ultralytics'")
            best_ours[label] = best[OURS_NAME]
        (m1, m10) = best_ours.values()
        print(f"dronemlops peak RSS: {m1['peak_rss_mb']:.0f} MB at {a.n} images, {m10['peak_rss_mb']:.0f} MB at {10*a.n} images "
              f"(x{m10['peak_rss_mb']/m1['peak_rss_mb']:.2f} for 10x the files; one process, reader threads, no workers)")
        print(f"load average after the runs: {os.getloadavg()[0]:.1f} (1 min), {os.getloadavg()[1]:.1f} (5 min) on {os.cpu_count()} CPUs")

if __name__ == "__main__": main()
