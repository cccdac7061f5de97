"""Stage 'train': a tiny logistic regression over features.csv, configured
by params.yaml (train.lr, train.epochs); writes model.txt and its loss
per epoch to train_log.csv (a plot). Standard library
only, so the demo needs nothing else."""

import math
import re
from pathlib import Path

text = Path("params.yaml").read_text()
lr = float(re.search(r"lr: (\S+)", text).group(1))
epochs = int(re.search(r"epochs: (\S+)", text).group(1))

rows = [line.split(",") for line in Path("features.csv").read_text().splitlines()[1:]]
data = [(float(a), float(b), int(y)) for a, b, y in rows][:4000]

w = [0.0, 0.0, 0.0]
log = ["epoch,loss"]
for epoch in range(epochs):
    loss = 0.0
    for x1, x2, y in data:
        p = 1 / (1 + math.exp(-(w[0] + w[1] * x1 + w[2] * x2)))
        loss -= math.log(max(p if y else 1 - p, 1e-12))
        g = p - y
        w = [w[0] - lr * g, w[1] - lr * g * x1, w[2] - lr * g * x2]
    log.append(f"{epoch},{loss / len(data):.5f}")
Path("train_log.csv").write_text("\n".join(log) + "\n")  # the loss curve, for trails plots
Path("model.txt").write_text(" ".join(f"{v:.6f}" for v in w) + "\n")
print(f"trained on {len(data)} rows, lr={lr}, epochs={epochs}")
