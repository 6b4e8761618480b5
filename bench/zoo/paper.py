"""Figures from the EfficientNet paper (Tan & Le, ICML 2019; arXiv v5), shown beside effbench's own counts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PaperFigures:
    table: str  # "Table 2" or "Table 3": the first table the row is in (paper_table_rows lists each table)
    params_m: float | None  # millions, as printed
    flops_b: float | None  # billions of multiply-adds, as printed (the paper's "FLOPs" are MACs)
    top1: float | None  # ImageNet top-1 (%), ICML version
    top1_v5: float | None = None  # arXiv v5 where it differs


# Table 2 (EfficientNet and the ResNet baselines) and Table 3 (scaling MobileNets and ResNet-50).
PAPER: dict[str, PaperFigures] = {
    "efficientnet_b0": PaperFigures("Table 2", 5.3, 0.39, 76.3, 77.1),
    "efficientnet_b1": PaperFigures("Table 2", 7.8, 0.70, 78.8, 79.1),
    "efficientnet_b2": PaperFigures("Table 2", 9.2, 1.0, 79.8, 80.1),
    "efficientnet_b3": PaperFigures("Table 2", 12.0, 1.8, 81.1, 81.6),
    "efficientnet_b4": PaperFigures("Table 2", 19.0, 4.2, 82.6, 82.9),
    "efficientnet_b5": PaperFigures("Table 2", 30.0, 9.9, 83.3, 83.6),
    "efficientnet_b6": PaperFigures("Table 2", 43.0, 19.0, 84.0, 84.0),
    "efficientnet_b7": PaperFigures("Table 2", 66.0, 37.0, 84.4, 84.3),
    "resnet50": PaperFigures("Table 2", 26.0, 4.1, 76.0),
    "resnet152": PaperFigures("Table 2", 60.0, 11.0, 77.8),
    "mobilenet_v1": PaperFigures("Table 3", None, 0.6, 70.6),
    "mobilenet_v1_w2": PaperFigures("Table 3", None, 2.2, 74.2),
    "mobilenet_v1_r2": PaperFigures("Table 3", None, 2.2, 72.7),
    "mobilenet_v1_compound": PaperFigures("Table 3", None, 2.3, 75.6),
    "mobilenet_v2": PaperFigures("Table 3", None, 0.3, 72.0),
    "mobilenet_v2_d4": PaperFigures("Table 3", None, 1.2, 76.8),
    "mobilenet_v2_w2": PaperFigures("Table 3", None, 1.1, 76.4),
    "mobilenet_v2_r2": PaperFigures("Table 3", None, 1.2, 74.8),
    "mobilenet_v2_compound": PaperFigures("Table 3", None, 1.3, 77.4),
    "resnet50_d4": PaperFigures("Table 3", None, 16.2, 78.1),
    "resnet50_w2": PaperFigures("Table 3", None, 14.7, 77.7),
    "resnet50_r2": PaperFigures("Table 3", None, 16.4, 77.5),
    "resnet50_compound": PaperFigures("Table 3", None, 16.7, 78.8),
}


def paper_table_rows(table: str) -> list[str]:
    """The models of the paper's `table` in its row order. ResNet-50 is a row of both tables: Table 2 compares it
    with B0, and Table 3 scales it (the baseline above its d=4, w=2, r=2 and compound rows)."""
    rows = [name for name, figures in PAPER.items() if figures.table == table]
    if table == "Table 3":
        at = rows.index("resnet50_d4")
        rows.insert(at, "resnet50")
    return rows


# Table 4: batch-1 latency on one core of an Intel Xeon E5-2690 (Sandy Bridge: AVX, no FMA/AVX2), mean of 20 runs.
PAPER_LATENCY_S: dict[str, float] = {
    "resnet152": 0.554,
    "efficientnet_b1": 0.098,
    "gpipe": 19.0,
    "efficientnet_b7": 3.1,
}
PAPER_SPEEDUPS = (("efficientnet_b1", "resnet152", 5.7), ("efficientnet_b7", "gpipe", 6.1))
