"""Per-curation means (and ranges) of the study's headline metrics, as the README quotes them.

    python3 results/reference/curation-cpu/means.py > results/reference/curation-cpu/means.txt
"""
import csv
import os
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
SETS = [
    ("emoji-heldout-style", "val_loss"),
    ("emoji-heldout-concept", "acc1"),
    ("emoji-heldout-style-subgroup", "acc1"),
    ("fashion-mnist", "acc1"),
    ("tuxpaint", "image_retrieval_recall@5"),
]
rows = [r for r in csv.DictReader(open(os.path.join(HERE, "table-short.csv")))
        if r["sweep"] == "curation-cpu"]
for dataset, metric in SETS:
    print(f"{dataset} {metric}: mean [min, max] over 12 trials")
    for cur in sorted({r["curation"] for r in rows}):
        v = [float(r["value"]) for r in rows
             if r["curation"] == cur and r["dataset"] == dataset and r["metric"] == metric]
        print(f"  {cur:10s} {statistics.mean(v):.4f} [{min(v):.4f}, {max(v):.4f}]")
