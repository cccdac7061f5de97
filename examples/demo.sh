#!/usr/bin/env bash
# The example project end to end, with what trails can do so far. Runs in a
# scratch Git repo under examples/quickstart/work/ (git-ignored), recreated
# each time. Needs `trails` on PATH (make demo puts .venv/bin there).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$here/quickstart/work"
rm -rf "$work"
mkdir -p "$work"
cp "$here/quickstart/"{gen_data.py,params.yaml,train.py} "$work/"
cd "$work"
git init -q .
git -c user.name=demo -c user.email=demo@example.com commit -q --allow-empty -m "empty"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "trails $(trails --version | awk '{print $3}'), core threads: $(trails debug threads)"

step "generate a data set of 2000 CSV shards"
python gen_data.py data 2000
find data -type f | wc -l | xargs echo "files:"

step "hash it (cold: every file read), then re-check it (warm stat index: nothing read)"
trails debug tree data --index .dvc/tmp/index | tail -1
touch -d '1 minute ago' $(find data -type f)   # older than the index's racy window
trails debug tree data --index .dvc/tmp/index | tail -1
trails debug tree data --index .dvc/tmp/index | tail -1

step "store it in the content-addressed cache (.dvc/cache/files/blake3)"
tree=$(trails debug store data --index .dvc/tmp/index)
echo "tree object: $tree"

step "check it out into an experiment directory by hardlink (no bytes copied)"
trails debug checkout "$tree" .dvc/tmp/exps/demo/data --link-type hardlink,copy --index .dvc/tmp/index

step "run the training script there"
cp params.yaml train.py .dvc/tmp/exps/demo/
(cd .dvc/tmp/exps/demo && python train.py && cat metrics.json)

step "change the workspace data, diff the manifests, re-sync the experiment directory"
trails debug tree data --json --index .dvc/tmp/index > before.json
echo "0.5,0.5,1" >> data/part-03/rows-00003.csv
rm data/part-07/rows-00007.csv
echo "x1,x2,label" > data/part-00/new.csv
trails debug tree data --json --index .dvc/tmp/index > after.json
trails debug diff before.json after.json
tree2=$(trails debug store data --index .dvc/tmp/index)
trails debug checkout "$tree2" .dvc/tmp/exps/demo/data --link-type hardlink,copy --index .dvc/tmp/index

step "done: the next issues turn this into 'trails add', 'trails repro' and 'trails exp run'"
