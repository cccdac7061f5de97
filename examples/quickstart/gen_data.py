"""Generate the example data set: N small CSV shards in folders, seeded, so
every run of the demo hashes the same bytes."""

import random
import sys
from pathlib import Path

out = Path(sys.argv[1] if len(sys.argv) > 1 else "data")
n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
rng = random.Random(42)
for i in range(n):
    shard = out / f"part-{i % 16:02d}"
    shard.mkdir(parents=True, exist_ok=True)
    rows = [f"{rng.random():.6f},{rng.random():.6f},{rng.randint(0, 1)}" for _ in range(40)]
    (shard / f"rows-{i:05d}.csv").write_text("x1,x2,label\n" + "\n".join(rows) + "\n")
