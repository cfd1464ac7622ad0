"""find_datasets over many published versions: the first call validates every byte; later calls trust the cached
verdict (published versions are immutable, the cache is keyed on their manifests). Prints both times and the ratio.

    python bench/bench_find_datasets.py [--versions 20]
"""
import argparse, tempfile, time
from dronemlops.config import load_settings
from dronemlops.dataset import build_sample_dataset
from dronemlops.validate import find_datasets

ap = argparse.ArgumentParser(); ap.add_argument("--versions", type=int, default=20); a = ap.parse_args()
d = tempfile.mkdtemp(prefix="bench-find-")
s = load_settings(env={}, cwd=d)
for i in range(a.versions):
    build_sample_dataset(f"bench_v{i:02d}_20261128_1200", block_size=200 + 8 * i, settings=s)  # distinct versions, ~40-70 images each
kw = dict(settings=s, min_train_images=10, min_val_images=5)
t0 = time.perf_counter(); first = find_datasets(**kw); t1 = time.perf_counter()
second = find_datasets(**kw); t2 = time.perf_counter()
third = find_datasets(revalidate=True, **kw); t3 = time.perf_counter()
assert [r["valid"] for r in first] == [r["valid"] for r in second] == [r["valid"] for r in third] and all(r["valid"] for r in first)
images = sum(r["train_images"] + r["val_images"] for r in first)
print(f"{len(first)} versions, {images} images: first call {t1 - t0:.2f} s, second (cached verdicts) {t2 - t1:.3f} s "
      f"-> {(t1 - t0) / (t2 - t1):.0f}x faster; revalidate=True {t3 - t2:.2f} s")
