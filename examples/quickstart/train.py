"""A tiny logistic-regression 'training' over the generated shards; writes
model.txt and metrics.json. Pure standard library, so the demo needs nothing."""

import json
import math
from pathlib import Path

params = {}
for line in Path("params.yaml").read_text().splitlines():
    key, _, value = line.strip().partition(":")
    if value.strip() and not key.startswith("#"):
        params[key.strip()] = float(value)
lr, epochs = params["lr"], int(params["epochs"])

rows = []
for f in sorted(Path("data").rglob("*.csv")):
    for line in f.read_text().splitlines()[1:]:
        x1, x2, y = line.split(",")
        rows.append((float(x1), float(x2), int(y)))

w = [0.0, 0.0, 0.0]
for _ in range(epochs):
    for x1, x2, y in rows[:5000]:
        p = 1 / (1 + math.exp(-(w[0] + w[1] * x1 + w[2] * x2)))
        g = p - y
        w = [w[0] - lr * g, w[1] - lr * g * x1, w[2] - lr * g * x2]
loss = -sum(
    math.log(max(1e-9, (1 / (1 + math.exp(-(w[0] + w[1] * a + w[2] * b)))) if y else
                   1 - 1 / (1 + math.exp(-(w[0] + w[1] * a + w[2] * b)))))
    for a, b, y in rows[:5000]
) / min(len(rows), 5000)
Path("model.txt").write_text(" ".join(f"{v:.6f}" for v in w) + "\n")
Path("metrics.json").write_text(json.dumps({"loss": round(loss, 5)}) + "\n")
print(f"trained on {len(rows)} rows: loss {loss:.5f}")
