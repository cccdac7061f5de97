#!/usr/bin/env bash
# The example project end to end, with what trails can do so far. Runs in a
# scratch Git repo under examples/quickstart/work/ (git-ignored), recreated
# each time. Needs `trails` on PATH (make demo puts .venv/bin there).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$here/quickstart/work"
rm -rf "$work"
mkdir -p "$work"
cp "$here/quickstart/"{gen_data.py,params.yaml,prepare.py,train.py,evaluate.py,dvc.yaml} "$work/"
mkdir -p "$work/finetune" && cp "$here/quickstart/finetune/"{dvc.yaml,finetune.py} "$work/finetune/"
cd "$work"
git init -q .
export GIT_AUTHOR_NAME=demo GIT_AUTHOR_EMAIL=demo@example.com
export GIT_COMMITTER_NAME=demo GIT_COMMITTER_EMAIL=demo@example.com

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
fail() { printf '\nFAILED: %s\n' "$*" >&2; exit 1; }

step "trails $(trails --version | awk '{print $3}'): a Git repo with a 3-stage pipeline"
trails init
python gen_data.py data 2000
echo "data: $(find data -type f | wc -l) CSV shards"
trails dag

step "track the data set with trails add: it goes to the cache, data.dvc goes to Git"
trails add data
cat data.dvc
echo "0.5,0.5,1" >> data/part-00/rows-00000.csv
trails status
trails checkout data.dvc

step "run the pipeline (every stage runs; outputs go to the cache; dvc.lock is written)"
trails repro
git add -A && git commit -q -m "baseline" && echo "committed the baseline"

step "run it again: nothing changed, nothing runs"
trails repro

step "change one parameter: status says what and why; only train and evaluate rerun"
sed -i 's/lr: 0.1/lr: 0.3/' params.yaml
trails status
trails repro --explain
cat metrics.json

step "an experiment in the workspace: -S edits exactly one line of params.yaml"
git checkout -q -- params.yaml dvc.lock metrics.json train_log.csv
trails exp run -S train.lr=0.15 -n lr-015
git diff --unified=0 params.yaml | grep '^[-+][^-+]'

step "queue a sweep of learning rates (the workspace is not touched), run them 2 at a time"
git checkout -q -- params.yaml dvc.lock metrics.json train_log.csv
trails exp run --queue -n lr -S 'train.lr=0.05,0.2,0.4'
trails exp show --no-pager --no-timestamp
trails exp run --run-all --jobs 2

step "compare: the guide's table, experiments under their baseline"
trails exp show --no-pager --no-timestamp
trails exp diff lr-1 lr-3

step "plots: the loss curve of each experiment, drawn offline (HTML with embedded SVG)"
trails plots diff lr-1 lr-2 lr-3 -o plots
grep -c '<section class="plot"' plots/index.html | grep -qx 1 || fail "plots diff drew no chart"
trails plots diff lr-1 lr-2 lr-3 --format svg -o plots && ls plots

step "apply one experiment, then another: the workspace holds recorded results, no --force needed"
trails exp apply lr-1
grep -q 'lr: 0.05' params.yaml || fail "exp apply lr-1 did not put lr 0.05 into params.yaml"
trails exp apply lr-3
grep -q 'lr: 0.4' params.yaml || fail "exp apply lr-3 did not put lr 0.4 into params.yaml"
[ -z "$(git stash list)" ] || fail "exp apply stashed recorded results"
git checkout -q -- params.yaml dvc.lock metrics.json train_log.csv && trails checkout

step "checkpoints: each epoch is a commit; a second run continues from the last one"
trails exp run finetune/dvc.yaml -n finetune
trails exp run finetune/dvc.yaml
trails exp show --no-pager --no-timestamp --include-metrics 'epoch,val_loss' --include-params 'none'
epoch() { python -c 'import json; print(json.load(open("finetune/progress.json"))["epoch"])'; }
[ "$(epoch)" = 6 ] || fail "the second run did not continue to epoch 6"

step "an epoch written but never checkpointed (as after Ctrl+C): the run resumes from the cache"
echo "99 0.0101" > finetune/weights.txt
trails exp run finetune/dvc.yaml | tee resume.log
grep -q "Restored finetune/weights.txt from checkpoint" resume.log || fail "weights not restored"
[ "$(epoch)" = 9 ] || fail "the run did not continue from epoch 6 to 9"

step "--reset twice: each starts over and replaces the experiment it discards"
trails exp run finetune/dvc.yaml --reset
trails exp run finetune/dvc.yaml --reset
[ "$(epoch)" = 3 ] || fail "--reset did not start over"
trails exp list --name-only
[ "$(trails exp list --name-only | grep -c '^exp-')" = 1 ] || fail "--reset did not replace its experiment"

step "the Rust core underneath: tree hash of the data, warm stat index (nothing read)"
touch -d '1 minute ago' $(find data -type f)
trails debug tree data --index .dvc/tmp/demo-index | tail -1
trails debug tree data --index .dvc/tmp/demo-index | tail -1

step "check the data out of the cache into an experiment directory by hardlink"
tree=$(trails debug store data 2>/dev/null)
trails debug checkout "$tree" .dvc/tmp/exps/demo/data --link-type hardlink,copy

step "done: 'trails exp show --help' and 'trails repro --help' list the rest"
