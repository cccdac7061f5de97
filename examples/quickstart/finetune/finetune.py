"""Three 'epochs' per run, resuming from weights.txt; one checkpoint each."""

import json
from pathlib import Path

from trails.api import make_checkpoint

weights = Path("weights.txt")
epoch = int(weights.read_text().split()[0]) if weights.exists() else 0
for _ in range(3):
    epoch += 1
    weights.write_text(f"{epoch} {1 / epoch:.4f}\n")
    Path("progress.json").write_text(json.dumps({"epoch": epoch, "val_loss": round(1 / epoch, 4)}))
    make_checkpoint()
print(f"trained up to epoch {epoch}")
