"""What a run reports: a progress bar, ``metrics.jsonl`` (one line per step), optional TensorBoard and
W&B, and a loss-curve PNG at the end. Only rank 0 reports.

``metrics.jsonl`` lines hold the step's losses, learning rate, gradient norm, realised source counts
(``ratio``), samples/s, and the time the step waited for data. On resume, lines after the
checkpoint's step are dropped (they are about to be recomputed), so the log of a resumed run reads
like one uninterrupted run.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from sgt_eval.errors import UserError

METRICS = "metrics.jsonl"
CURVE = "loss_curve.png"


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The metric lines of a run; a torn last line (killed mid-write) is ignored."""
    if not Path(path).is_file():
        return []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    rows = []
    for k, line in enumerate(lines):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if k != len(lines) - 1:
                raise UserError(f"{path}:{k + 1}: not a JSON line; the metrics log is damaged") from None
    return rows


class Tracker:
    """Rank 0's reporting for one run (a silent stand-in on other ranks: ``enabled=False``)."""

    def __init__(self, out: Path, *, start_step: int, total_steps: int, config: dict[str, Any], enabled: bool,
                 tensorboard: bool = False, wandb: bool = False) -> None:
        self.enabled, self.path = enabled, Path(out) / METRICS
        self.writer = self.wandb = self.bar = None
        if not enabled:
            return
        kept = [r for r in read_metrics(self.path) if r["step"] <= start_step]
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        self.file = open(self.path, "a", encoding="utf-8")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise UserError("log.tensorboard needs the tensorboard package: pip install tensorboard") from None
            self.writer = SummaryWriter(str(Path(out) / "tensorboard"))
        if wandb:
            try:
                import wandb as wandb_module
            except ImportError:
                raise UserError("log.wandb needs the wandb package: pip install wandb") from None
            self.wandb = wandb_module.init(project="sgt-train", dir=str(out), config=config,
                                           mode=os.environ.get("WANDB_MODE", "offline"))
        self.bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", file=sys.stderr,
                        dynamic_ncols=True)

    def log(self, record: dict[str, Any]) -> None:
        """Append one step's metrics and refresh the progress bar."""
        if not self.enabled:
            return
        self.file.write(json.dumps(record) + "\n")
        self.file.flush()
        scalars = {k: v for k, v in record.items() if isinstance(v, (int, float)) and v is not None and k != "step"}
        if self.writer is not None:
            for key, value in scalars.items():
                self.writer.add_scalar(key, value, record["step"])
        if self.wandb is not None:
            self.wandb.log(scalars, step=record["step"])
        ratio = ":".join(str(v) for v in record["ratio"].values())
        shown = {k: f"{record[k]:.3f}" for k in ("loss_text", "loss_image") if record.get(k) is not None}
        self.bar.set_postfix(**shown, ratio=ratio, sps=f"{record['samples_per_s']:.1f}", refresh=False)
        self.bar.update(record["step"] - self.bar.n)

    def note(self, text: str) -> None:
        if self.enabled:
            tqdm.write(text, file=sys.stderr)

    def close(self) -> None:
        """Idempotent: the recipe closes it at the end and again after an error."""
        if not self.enabled or self.file.closed:
            return
        self.bar.close()
        self.file.close()
        if self.writer is not None:
            self.writer.close()
        if self.wandb is not None:
            self.wandb.finish()


def loss_curve(metrics: list[dict[str, Any]], png: Path) -> Path:
    """Text and image loss against step (raw, and a moving average) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), dpi=110)
    for ax, key, title in ((axes[0], "loss_text", "text cross-entropy"), (axes[1], "loss_image", "image velocity MSE")):
        points = [(r["step"], r[key]) for r in metrics if r.get(key) is not None]
        if points:
            steps, values = zip(*points)
            window = max(1, len(values) // 20)
            smooth = [sum(values[max(0, i - window + 1):i + 1]) / len(values[max(0, i - window + 1):i + 1])
                      for i in range(len(values))]
            ax.plot(steps, values, alpha=0.3, lw=0.8)
            ax.plot(steps, smooth, lw=1.6)
        else:
            ax.text(0.5, 0.5, "no samples of this kind", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(png)
    plt.close(fig)
    return png
