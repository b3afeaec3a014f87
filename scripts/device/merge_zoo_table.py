"""Merge a zoo table a device call returned (``scripts/device/timm_proxies.sh``) into the committed one.

    python scripts/device/merge_zoo_table.py RETURNED.csv [--zoo timm] [--requeue SCORE PATTERN ...]

Policy, checked before anything is written (else it stops, naming the row and column):

* the returned table has the committed table's columns and architectures, and differs from it only on rows
  that were pending, in the columns a fill writes (the data-dependent proxies, the shared pass's timing,
  ``errors``, ``pending``, ``scored_at``); every other cell is kept as committed, character for character;
* ``--requeue SCORE PATTERN``: a value of SCORE whose recorded message contains PATTERN failed through a
  defect of the path that computed it, not a property of the model: the value stays empty, the message is
  dropped and SCORE goes back into the row's ``pending`` (a later fill computes it), and the ``.meta.json``
  records the requeue with the pattern (and a ``filled`` entry of the call whose rows hold no value of SCORE
  no longer lists it);
* every row the call filled is named in a ``filled`` entry of the ``.meta.json`` with the device: a fill cut
  by its time limit wrote none, so one is added for the rows no returned entry names, with the returned
  entries' device and versions.

Both files are written atomically (a temporary beside them, then renamed).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data"
PROXIES = ("snip", "grasp", "fisher", "grad_norm", "jacob_cov", "naswot")
FILL_COLUMNS = {
    *PROXIES,
    *(f"{p}_seconds" for p in PROXIES),
    *(f"{p}_cpu_seconds" for p in PROXIES),
    "data_dependent_seconds",
    "data_dependent_cpu_seconds",
    "errors",
    "pending",
    "scored_at",
}


def read_rows(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), {row["arch"]: row for row in reader}


def check_changes(committed: dict, returned: dict) -> list[str]:
    """The architectures the returned table filled; stops on any change a fill cannot make."""
    if set(committed) != set(returned):
        sys.exit(f"the architectures differ: {sorted(set(committed) ^ set(returned))[:5]} ...")
    filled = []
    for arch, old in committed.items():
        changed = [c for c in old if returned[arch][c] != old[c]]
        if not changed:
            continue
        outside = sorted(set(changed) - FILL_COLUMNS)
        if outside or not old["pending"]:
            sys.exit(f"{arch}: the returned table changes {outside or changed} of a row that was not pending")
        filled.append(arch)
    return filled


def requeue(rows: dict, archs: list[str], score: str, pattern: str) -> list[str]:
    """SCORE back into ``pending`` where its message contains PATTERN (the policy of the module)."""
    hit = []
    for arch in archs:
        row = rows[arch]
        errors = json.loads(row["errors"]) if row["errors"] else {}
        if pattern not in errors.get(score, ""):
            continue
        errors.pop(score)
        row["errors"] = json.dumps(errors) if errors else ""
        pending = row["pending"].split()
        row["pending"] = " ".join(p for p in PROXIES if p in {*pending, score})
        row[score] = ""
        hit.append(arch)
    return hit


def atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", newline="") as handle:
        handle.write(text)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("returned", type=Path, help="the CSV the call returned (its .meta.json beside it)")
    parser.add_argument("--zoo", default="timm")
    parser.add_argument("--requeue", nargs=2, action="append", default=[], metavar=("SCORE", "PATTERN"))
    args = parser.parse_args()
    csv_path = DATA / f"zoo_scores_v2_{args.zoo}.csv"
    columns, committed = read_rows(csv_path)
    returned_columns, returned = read_rows(args.returned)
    if returned_columns != columns:
        sys.exit(f"the returned columns differ from {csv_path.name}'s")
    filled = check_changes(committed, returned)
    meta = json.loads(args.returned.with_name(args.returned.name.replace(".csv", ".meta.json")).read_text())
    device_entries = [e for e in meta.get("filled", []) if "device" in e]
    if filled and not device_entries:
        sys.exit("the returned .meta.json names no device: nothing to record the filled rows with")
    requeued = {score: requeue(returned, filled, score, pattern) for score, pattern in args.requeue}
    named = {arch for entry in device_entries for arch in entry.get("archs", [])}
    unnamed = sorted(set(filled) - named)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    stamp = datetime.fromtimestamp(args.returned.stat().st_mtime, timezone.utc).isoformat(timespec="seconds")
    if unnamed:
        source = device_entries[-1]
        meta["filled"].append(
            {
                "rows": len(unnamed),
                "scores": " ".join(PROXIES),
                "at": stamp,
                **{k: source[k] for k in ("torch", "cpu_kernels", "device")},
                "archs": unnamed,
                "note": f"recorded at the merge ({now}): the fill was cut by its time limit before writing its entry",
            }
        )
    for (score, pattern), archs in zip(args.requeue, requeued.values()):
        if archs:
            meta.setdefault("requeued", []).append({"score": score, "pattern": pattern, "archs": archs, "at": now})
            for entry in meta["filled"]:  # an entry of the call whose rows hold no value of the score: not its
                rows = set(entry.get("archs", [])) & set(filled)
                if rows & set(archs) and not any(returned[arch][score] for arch in rows):
                    entry["scores"] = " ".join(p for p in entry["scores"].split() if p != score)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for arch in committed:  # the committed order
        writer.writerow(returned[arch])
    atomic_write(csv_path, out.getvalue())
    atomic_write(csv_path.with_name(csv_path.name.replace(".csv", ".meta.json")), json.dumps(meta, indent=1) + "\n")
    print(
        f"{csv_path.name}: {len(filled)} rows filled ({len(unnamed)} named at the merge), requeued: "
        + ", ".join(f"{s} on {len(a)} rows" for s, a in requeued.items())
    )


if __name__ == "__main__":
    main()
