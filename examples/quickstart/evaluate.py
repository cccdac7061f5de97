"""Stage 'evaluate': log-loss of model.txt on features.csv -> metrics.json."""

import json
import math
from pathlib import Path

w = [float(v) for v in Path("model.txt").read_text().split()]
rows = [line.split(",") for line in Path("features.csv").read_text().splitlines()[1:]]
loss = 0.0
for a, b, y in rows:
    p = 1 / (1 + math.exp(-(w[0] + w[1] * float(a) + w[2] * float(b))))
    p = min(max(p, 1e-9), 1 - 1e-9)
    loss -= math.log(p if y == "1" else 1 - p)
Path("metrics.json").write_text(json.dumps({"loss": round(loss / len(rows), 5)}) + "\n")
print(f"loss {loss / len(rows):.5f}")
