"""Analyse every torchvision classifier at its evaluation crop (thesis section 4.5.1).

Writes one row per model to data/torchvision_zoo_analysis.csv (resumable: models already
in the CSV are skipped; failures are recorded in a sibling *_failures.csv and retried on
the next run).  Run with ``nice -n 10 python scripts/analyze_torchvision_zoo.py``.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import torch
import torchvision
from tqdm.auto import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reuseprior.counting import analyze  # noqa: E402

FIELDS = ["model", "crop", "NG", "WG", "PG", "PG_prime", "ES", "H", "seconds"]


def eval_crop(name: str) -> int:
    """Crop size of the default weights' eval transform (224 if unavailable)."""
    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
        crop = weights.transforms().crop_size
        return int(crop[0] if isinstance(crop, (list, tuple)) else crop)
    except Exception:  # noqa: BLE001 - models without weights
        return 224


def classifier_names() -> list[str]:
    return sorted(torchvision.models.list_models(module=torchvision.models))


def analyze_one(name: str) -> dict:
    crop = eval_crop(name)
    model = torchvision.models.get_model(name, weights=None)
    if getattr(model, "image_size", crop) != crop:
        # e.g. vit_h_14: its default (SWAG) weights are for 518 px, the bare builder is 224 px
        model = torchvision.models.get_model(name, weights=None, image_size=crop)
    t = time.perf_counter()
    rep = analyze(model, torch.zeros(1, 3, crop, crop))
    sec = time.perf_counter() - t
    return {"model": name, "crop": crop, "NG": rep.NG, "WG": rep.WG, "PG": rep.PG,
            "PG_prime": rep.PG_prime, "ES": rep.expected_spread, "H": rep.entropy,
            "seconds": round(sec, 2)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "torchvision_zoo_analysis.csv")
    ap.add_argument("--models", nargs="*", help="subset of model names (default: all classifiers)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = args.models or classifier_names()
    done = set()
    if args.out.exists():
        with args.out.open() as f:
            done = {row["model"] for row in csv.DictReader(f)}
    fail_path = args.out.with_name(args.out.stem + "_failures.csv")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    new = not args.out.exists()
    failures = 0
    fail_path.write_text("")  # failures of this run only (they are retried on every run)
    with args.out.open("a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        if new:
            w.writeheader()
        for name in tqdm([n for n in names if n not in done], desc="torchvision zoo"):
            try:
                row = analyze_one(name)
            except Exception as exc:  # noqa: BLE001 - record and continue
                failures += 1
                with fail_path.open("a") as ff:
                    ff.write(f"{name},{type(exc).__name__}: {str(exc).splitlines()[0][:300]!r}\n")
                continue
            w.writerow(row)
            f.flush()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
