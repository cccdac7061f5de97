"""``--executor ray`` through the real CLI, on a real local Ray cluster (a
head without CPUs and two worker nodes of one CPU each, on this machine:
Ray makes a loopback address the machine's own, so that is what it binds),
with a folder as the cache remote: the recorded experiments match the
local executor's, ``exp apply`` brings a remote run's outputs, a failing
stage fails its experiment only, checkpoints reach the driver as they are
made, and a worker node removed mid-run costs only that attempt."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Result, baseline, exp_rows, gen, git
from tests.test_remote_s3 import _remote as s3_remote
from tests.test_remote_s3 import s3  # noqa: F401 (the moto S3 server fixture)

Trails = Callable[..., Result]
PY = sys.executable

PIPELINE = f"""\
stages:
  train:
    cmd: {PY} train.py
    deps: [train.py, data]
    params: [units, sleep]
    outs: [model.bin]
    metrics:
      - metrics.json:
          cache: false
"""
TRAIN = (
    "import json, os, re, time\n"
    "p = open('params.yaml').read()\n"
    "units = int(re.search(r'units: (\\S+)', p).group(1))\n"
    "time.sleep(float(re.search(r'sleep: (\\S+)', p).group(1)))\n"
    "if units == 13: raise SystemExit('unlucky units')\n"
    "data = ''.join(open(f'data/{n}').read() for n in sorted(os.listdir('data')))\n"
    "open('model.bin', 'w').write(data * units)\n"
    "json.dump({'loss': 1 / units}, open('metrics.json', 'w'))\n"
)
CHECKPOINTS = f"""\
stages:
  train:
    cmd: {PY} train.py
    deps: [train.py]
    outs:
      - model.txt:
          checkpoint: true
    metrics:
      - metrics.json:
          cache: false
"""
CHECKPOINT_TRAIN = """\
import json, time
from pathlib import Path
from trails.api import make_checkpoint
start = int(Path("model.txt").read_text()) if Path("model.txt").exists() else 0
epochs, pause = Path("epochs").read_text().split()
for epoch in range(start + 1, start + int(epochs) + 1):
    Path("model.txt").write_text(str(epoch))
    json.dump({"epoch": epoch}, open("metrics.json", "w"))
    make_checkpoint()
    time.sleep(float(pause))
"""

pytestmark = [pytest.mark.ray, pytest.mark.slow]


class Cluster:
    def __init__(self, scratch: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from ray.cluster_utils import Cluster as RayCluster

            store = 80 * 2**20
            self.ray = RayCluster(
                initialize_head=True,
                connect=False,
                head_node_args={"num_cpus": 0, "object_store_memory": store,
                                "include_dashboard": False},
            )  # fmt: skip
            self.nodes = [self.add() for _ in range(2)]
        self.address = self.ray.address
        self.scratch = scratch

    def add(self) -> Any:
        return self.ray.add_node(num_cpus=1, object_store_memory=80 * 2**20)

    def remove(self, prefix: str) -> None:
        (node,) = [n for n in self.nodes if n.node_id.startswith(prefix)]
        self.ray.remove_node(node)
        self.nodes.remove(node)
        self.nodes.append(self.add())


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    pytest.importorskip("ray")
    scratch = tmp_path_factory.mktemp("ray-scratch")
    old = os.environ.get("TRAILS_RAY_SCRATCH")
    os.environ["TRAILS_RAY_SCRATCH"] = str(scratch)  # the nodes' processes inherit it
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    c = Cluster(scratch)
    try:
        yield c
    finally:
        c.ray.shutdown()
        if old is None:
            os.environ.pop("TRAILS_RAY_SCRATCH", None)


@pytest.fixture
def project(repo: Path, trails: Trails, tmp_path: Path) -> Path:
    files = {"dvc.yaml": PIPELINE, "train.py": TRAIN, "params.yaml": "units: 2\nsleep: 0\n"}
    files.update({f"data/{n:02}": f"{n}\n" for n in range(20)})
    baseline(repo, trails, files)
    assert trails("remote", "add", "-d", "store", str(tmp_path / "remote")).code == 0
    git(repo, "commit", "-qam", "remote")
    return repo


def on_ray(trails: Trails, cluster: Cluster, *args: str) -> Result:
    return trails("exp", "run", "--run-all", "--executor", "ray", "--address", cluster.address,
                  *args)  # fmt: skip


def recorded(repo: Path, trails: Trails, prefix: str = "") -> dict[int, dict[str, Any]]:
    """Per experiment whose name starts with ``prefix`` (by its units): its
    metrics, its outputs' hashes and its dvc.lock entries, as Git and
    ``exp show`` hold them."""
    out = {}
    for r in exp_rows(trails("exp", "show", "--json").out):
        if r["kind"] != "experiment" or not str(r["name"]).startswith(prefix):
            continue
        lock = git(repo, "show", f"{r['rev']}:dvc.lock")
        out[r["params"]["params.yaml"]["units"]] = {
            "metrics": r["metrics"], "outs": r.get("outs"), "lock": lock,
        }  # fmt: skip
    return out


def queue(trails: Trails, *units: int, extra: tuple[str, ...] = ()) -> list[str]:
    ids = []
    for u in units:
        r = trails("exp", "run", "--queue", "-S", f"units={u}", *extra)
        assert r.code == 0, r.err
        ids.append(r.out.split("'")[1])
    return ids


def test_ray_records_what_the_local_executor_records(
    project: Path, trails: Trails, cluster: Cluster
) -> None:
    """Three entries and a failing one on the cluster; the same three again
    on the local executor: the same metrics, outputs and dvc.lock entries.
    The failure fails its experiment only, its log kept."""
    bad = queue(trails, 13)[0]
    queue(trails, 3, 4, 5)
    r = on_ray(trails, cluster, "-j", "2")
    assert r.code == 1 and f"1 experiment(s) failed: {bad}" in r.err, (r.out, r.err)
    assert "unlucky units" in trails("queue", "logs", bad).out, "the failure's log is kept"
    status = {
        ln.split()[0]: ln.split()[-1] for ln in trails("queue", "status").out.splitlines()[1:]
    }
    assert status[bad] == "failed" and sorted(status.values()).count("success") == 3, status
    on_cluster = recorded(project, trails, "exp-")
    assert sorted(on_cluster) == [3, 4, 5]
    for u in (3, 4, 5):
        queue(trails, u, extra=("-n", f"local{u}"))
    assert trails("exp", "run", "--run-all", "-j", "2").code == 0
    local = recorded(project, trails, "local")
    assert local == on_cluster


def names(trails: Trails) -> dict[str, int]:
    rows = exp_rows(trails("exp", "show", "--json").out)
    return {
        str(r["name"]): r["params"]["params.yaml"]["units"]
        for r in rows
        if r["kind"] == "experiment"
    }


def test_apply_fetches_a_ray_run_from_the_remote_alone(
    project: Path, trails: Trails, cluster: Cluster
) -> None:
    """The driver's cache never held the experiment's output: only the
    remote did, and ``exp apply`` brought it from there."""
    queue(trails, 6, extra=("-n", "six"))
    assert on_ray(trails, cluster).code == 0
    cache = project / ".dvc" / "cache"
    before = {p.name for p in cache.rglob("*") if p.is_file()}
    r = trails("exp", "apply", "six")
    assert r.code == 0, r.err
    after = {p.name for p in cache.rglob("*") if p.is_file()}
    assert after - before, "the output came from the remote"
    assert (project / "model.bin").read_text().count("\n") == 20 * 6


def test_without_a_cache_remote_it_says_how_to_add_one(
    repo: Path, trails: Trails, cluster: Cluster
) -> None:
    files = {"dvc.yaml": PIPELINE, "train.py": TRAIN, "params.yaml": "units: 2\nsleep: 0\n"}
    files["data/a"] = "a\n"
    baseline(repo, trails, files)
    queue(trails, 3)
    r = on_ray(trails, cluster)
    assert r.code == 1 and "trails remote add -d" in r.err and "Traceback" not in r.err
    assert trails("queue", "status").out.splitlines()[1].endswith("queued")


def test_resources_no_node_offers_are_refused_before_anything_runs(
    project: Path, trails: Trails, cluster: Cluster
) -> None:
    """Ray would keep such an experiment pending for ever: one message
    naming what was asked and what the nodes offer, the queue untouched."""
    ids = queue(trails, 3)
    before = git(project, "for-each-ref", "refs/exps")
    r = on_ray(trails, cluster, "--resources", "num_cpus=1,nosuch=1")
    assert r.code == 1 and "Traceback" not in r.err, r.err
    assert "no node of the Ray cluster" in r.err and "nosuch=1" in r.err, r.err
    assert "CPU=1" in r.err, "what the live nodes offer is named"
    assert git(project, "for-each-ref", "refs/exps") == before
    assert trails("queue", "status").out.splitlines()[1].split()[0] == ids[0]
    assert trails("queue", "status").out.splitlines()[1].endswith("queued")


def test_checkpoints_reach_the_driver_as_they_are_made(
    repo: Path, trails: Trails, cluster: Cluster, tmp_path: Path
) -> None:
    """Each checkpoint is on the driver's experiment ref while the run goes
    on; a driver interrupted after two keeps them and leaves the entry
    queued; the next run continues the chain."""
    files = {"dvc.yaml": CHECKPOINTS, "train.py": CHECKPOINT_TRAIN, "epochs": "4 1.5\n"}
    assert trails("init").code == 0
    gen(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "baseline")
    assert trails("remote", "add", "-d", "store", str(tmp_path / "remote")).code == 0
    assert trails("exp", "run", "--queue", "-n", "q").code == 0
    with driving(repo, cluster) as driver:
        until(lambda: len(chain(repo)) >= 2, driver, "no checkpoints came")
        driver.send_signal(signal.SIGINT)
        assert driver.wait(timeout=60) != 0
    kept = chain(repo)
    assert len(kept) >= 2, "the checkpoints made are kept"
    assert git(repo, "for-each-ref", "refs/exps/queue") != "", "the entry stays queued"
    assert "running" not in trails("queue", "status").out
    gen(repo, {"epochs": "1 0\n"})  # not in the entry's commit: it runs its own 4
    r = on_ray(trails, cluster)
    assert r.code == 0, r.out + r.err
    assert len(chain(repo)) >= len(kept) + 1, "continued, not started over"
    assert git(repo, "for-each-ref", "refs/exps/queue") == ""


def chain(repo: Path) -> list[str]:
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/exps").split()
    tips = [r for r in refs if r.endswith("/q")]
    return git(repo, "rev-list", tips[0], "^HEAD").split() if tips else []


@contextlib.contextmanager
def driving(repo: Path, cluster: Cluster, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``--run-all --executor ray`` in the background, its output in a file."""
    cmd = [PY, "-m", "trails", "exp", "run", "--run-all", "--executor", "ray",
           "--address", cluster.address, *args]  # fmt: skip
    log = repo.parent / "driver.log"
    with log.open("wb") as out, subprocess.Popen(cmd, cwd=repo, stdout=out, stderr=out) as driver:
        yield driver


def until(check: Callable[[], bool], driver: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 90
    while not check():
        assert driver.poll() is None and time.monotonic() < deadline, what
        time.sleep(0.3)


def test_a_worker_node_removed_mid_run_costs_that_attempt_only(
    project: Path, trails: Trails, cluster: Cluster
) -> None:
    """Two experiments run, one per worker node; the node of one is
    removed (its raylet killed): that experiment runs again on the other
    node and every entry ends recorded once, nothing left running."""
    gen(project, {"params.yaml": "units: 2\nsleep: 4\n"})
    ids = queue(trails, 7, 8)
    node = ""

    def running() -> bool:
        nonlocal node
        for line in trails("queue", "status").out.splitlines():
            if "running on node" in line and "(train)" in line:
                node = line.split("running on node ")[1].split()[0]
        return bool(node)

    with driving(project, cluster, "-j", "2") as driver:
        until(running, driver, "nothing ran")
        cluster.remove(node)
        assert driver.wait(timeout=120) == 0, (project.parent / "driver.log").read_text()
    got = names(trails)
    assert sorted(got.values()) == [7, 8], "each recorded exactly once"
    status = trails("queue", "status").out
    assert "running" not in status and "queued" not in status, status
    logs = "".join(trails("queue", "logs", i).out for i in ids)
    assert "shipping it again" in logs, "the lost attempt is in its log"


HOLD = """\
import sys, ray
ray.init(address=sys.argv[1], include_dashboard=False, log_to_driver=False)
@ray.remote(num_cpus=1)
class Hold:
    def ok(self):
        return 1
h = Hold.remote()
ray.get(h.ok.remote())
print("held", flush=True)
sys.stdin.read()
"""


def test_a_lane_never_placed_gives_its_entries_back(
    project: Path, trails: Trails, cluster: Cluster
) -> None:
    """Another job holds one of the two worker nodes' CPU: of the two
    lanes of ``-j 2`` (the cluster's nodes have room for both, so both
    take entries before they are up), Ray places one only; the other,
    once the rest are run, gives its entries back: every one is recorded."""
    with subprocess.Popen([PY, "-c", HOLD, cluster.address], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as holder:  # fmt: skip
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            ids = queue(trails, 21, 22, 23)
            r = on_ray(trails, cluster, "-j", "2")
            assert r.code == 0, r.out + r.err
            assert sorted(names(trails).values()) == [21, 22, 23]
            logs = "".join(trails("queue", "logs", i).out for i in ids)
            assert "its lane was not placed in 10 s" in logs, logs
        finally:
            holder.kill()


def test_queue_start_runs_on_ray_from_the_config(
    project: Path, trails: Trails, cluster: Cluster
) -> None:
    """``[exp] executor = ray`` and ``ray_address``: ``queue start`` alone
    runs on the cluster (in the background); the run folder names the
    node while it runs."""
    assert trails("config", "exp.executor", "ray").code == 0
    assert trails("config", "exp.ray_address", cluster.address).code == 0
    queue(trails, 9)
    r = trails("queue", "start")
    assert r.code == 0 and "on Ray" in r.out, r.out + r.err
    deadline = time.monotonic() + 90
    while "success" not in trails("queue", "status").out:
        assert time.monotonic() < deadline, (project / ".dvc/tmp/exps/queue.log").read_text()
        time.sleep(0.3)
    assert sorted(names(trails).values()) == [9]
    assert "on node" in trails("queue", "logs", trails("queue", "status").out.split()[4]).out


def test_queue_kill_cancels_on_the_cluster(project: Path, trails: Trails, cluster: Cluster) -> None:
    """``queue kill`` of a running remote experiment: its task is
    cancelled, its entry stays queued, nothing is left running; the log
    streamed while it ran (``queue logs``) holds its stage's start."""
    gen(project, {"params.yaml": "units: 2\nsleep: 60\n"})
    (entry,) = queue(trails, 11)
    with driving(project, cluster) as driver:
        until(lambda: "(train)" in trails("queue", "status").out, driver, "it never ran")
        assert "Running stage 'train'" in trails("queue", "logs", entry).out
        r = trails("queue", "kill", entry)
        assert r.code == 0 and "Cancelling experiment" in r.out, r.out + r.err
        assert driver.wait(timeout=60) == 0
    status = trails("queue", "status").out
    assert status.splitlines()[1].split()[0] == entry and status.rstrip().endswith("queued"), status
    assert names(trails) == {}


def test_a_driver_killed_outright_leaves_its_entries_queued(
    project: Path, trails: Trails, cluster: Cluster
) -> None:
    """SIGKILL of the driver mid-run: the entry is still queued (its lock,
    whose process is gone, does not make it running); the next run goes on
    with the queue."""
    gen(project, {"params.yaml": "units: 2\nsleep: 60\n"})
    (entry,) = queue(trails, 12)
    with driving(project, cluster) as driver:
        until(lambda: "(train)" in trails("queue", "status").out, driver, "it never ran")
        driver.kill()
    status = trails("queue", "status").out
    assert status.splitlines()[1].split()[0] == entry and status.rstrip().endswith("queued"), status
    assert git(project, "for-each-ref", "refs/exps/queue") != ""
    assert trails("queue", "remove", entry).code == 0
    gen(project, {"params.yaml": "units: 2\nsleep: 0\n"})
    queue(trails, 14, extra=("-n", "after"))
    r = on_ray(trails, cluster, "-j", "2")
    assert r.code == 0 and names(trails) == {"after": 14}, r.out + r.err


def _joined(cluster: Cluster, node: subprocess.Popen[bytes], resource: str) -> None:
    """Wait (up to 3 minutes: a loaded machine starts a raylet slowly) until
    a live node offers ``resource``, so a test never waits on a node that
    is still starting or that failed to start."""
    probe = (
        "import ray, sys, time\n"
        f"ray.init(address={cluster.address!r}, log_to_driver=False, configure_logging=False)\n"
        "end = time.monotonic() + 180\n"
        "while time.monotonic() < end:\n"
        f"    if any(n['Alive'] and n['Resources'].get({resource!r}) for n in ray.nodes()):\n"
        "        sys.exit(0)\n"
        "    time.sleep(0.5)\n"
        "sys.exit(1)\n"
    )
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, check=False)
    assert node.poll() is None, f"the node offering {resource} exited ({node.returncode})"
    assert r.returncode == 0, f"no live node offers {resource}: {r.stderr.decode()[-2000:]}"


@pytest.fixture
def hidden_node(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A third worker node (custom resource ``isolated``) in a mount
    namespace of its own where every test's folder is an empty tmpfs: the
    driver's project, its cache and its Git folder do not exist there."""
    hidden = tmp_path_factory.getbasetemp()
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False)
    if os.geteuid() != 0 or probe.returncode != 0:
        pytest.skip("needs root and mount namespaces (unshare) to hide the project")
    ray = Path(sys.executable).parent / "ray"
    start = [str(ray), "start", f"--address={cluster.address}", "--num-cpus=1",
             '--resources={"isolated": 1}', f"--object-store-memory={80 * 2**20}", "--block",
             "--disable-usage-stats"]  # fmt: skip
    script = f"mount -t tmpfs tmpfs {shlex.quote(str(hidden))} && exec {shlex.join(start)}"
    env = {**os.environ, "TRAILS_RAY_SCRATCH": str(hidden / "scratch")}
    node = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _joined(cluster, node, "isolated")
        yield hidden
    finally:
        os.killpg(node.pid, signal.SIGTERM)
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
            node.wait()


def test_workers_use_only_what_they_are_shipped(
    repo: Path, trails: Trails, cluster: Cluster, hidden_node: Path
) -> None:
    """On a node that cannot see the driver's project (nor its cache), the
    experiments record what the local executor records for the same
    entries: the worker had only the bundles and the remote's objects."""
    remote = Path(tempfile.mkdtemp(prefix="trails-ray-remote-"))
    try:
        train = TRAIN + f"print('driver project visible:', os.path.exists({str(repo)!r}))\n"
        files = {"dvc.yaml": PIPELINE, "train.py": train, "params.yaml": "units: 2\nsleep: 0\n"}
        files.update({f"data/{n:02}": f"{n}\n" for n in range(20)})
        baseline(repo, trails, files)
        assert trails("remote", "add", "-d", "store", str(remote)).code == 0
        ids = [queue(trails, u, extra=("-n", f"iso{u}"))[0] for u in (3, 4)]
        r = on_ray(trails, cluster, "-j", "2", "--resources", "num_cpus=1,isolated=1")
        assert r.code == 0, r.out + r.err
        logs = "".join(trails("queue", "logs", i).out for i in ids)
        assert logs.count("driver project visible: False") == 2, logs
        hidden = recorded(repo, trails, "iso")
        assert sorted(hidden) == [3, 4]
        ids = [queue(trails, u, extra=("-n", f"loc{u}"))[0] for u in (3, 4)]
        assert trails("exp", "run", "--run-all", "-j", "2").code == 0
        logs = "".join(trails("queue", "logs", i).out for i in ids)
        assert logs.count("driver project visible: True") == 2, logs
        assert recorded(repo, trails, "loc") == hidden
    finally:
        shutil.rmtree(remote, ignore_errors=True)


def test_exp_show_names_the_node_a_ray_experiment_runs_on(
    project: Path, trails: Trails, cluster: Cluster
) -> None:
    """While an entry runs on a node: the table marks it running on that
    node (``queue status``'s 8 characters), and ``--json`` has the node's
    id under the executor's ``ray`` key, the document still of the VS Code
    extension's shape; once it is done, neither."""
    from tests.test_vscode import validate

    gen(project, {"params.yaml": "units: 2\nsleep: 60\n"})
    (entry,) = queue(trails, 15)
    node = ""

    def running() -> bool:
        nonlocal node
        for line in trails("queue", "status").out.splitlines():
            if line.startswith(entry) and "running on node" in line:
                node = line.split("running on node ")[1].split()[0]
        return bool(node)

    with driving(project, cluster) as driver:
        until(running, driver, "it never ran")
        table = trails("exp", "show", "--no-pager").out
        assert f"*{entry} [running on node {node}]" in table, table
        doc = json.loads(trails("exp", "show", "--json").out)
        validate(doc, "exp-show.json")
        (rng,) = [r for top in doc for r in top.get("experiments") or []
                  if r["revs"][0]["rev"].startswith(entry)]  # fmt: skip
        ex = rng["executor"]
        assert ex["state"] == "running" and ex["ray"]["node"].startswith(node), ex
        assert ex["local"]["pid"] == driver.pid and ex["local"]["root"] is None, ex
        assert trails("queue", "kill", entry).code == 0
        assert driver.wait(timeout=60) == 0
    assert "running on node" not in trails("exp", "show", "--no-pager").out
    doc = json.loads(trails("exp", "show", "--json").out)
    executors = [r["executor"] for top in doc for r in top.get("experiments") or []]
    assert executors and all("ray" not in (e or {}) for e in executors), executors


def test_an_s3_cache_remote_records_what_the_local_executor_records(
    repo: Path,
    trails: Trails,
    cluster: Cluster,
    s3: str,  # noqa: F811 (the fixture imported above)
) -> None:
    """The workers meet at moto's S3 server (on 127.0.0.1): inputs fetched
    from it, outputs pushed to it; the experiments match the local
    executor's for the same entries, and ``exp apply`` brings an output
    from the bucket alone."""
    files = {"dvc.yaml": PIPELINE, "train.py": TRAIN, "params.yaml": "units: 2\nsleep: 0\n"}
    files.update({f"data/{n:02}": f"{n}\n" for n in range(20)})
    baseline(repo, trails, files)
    s3_remote(s3, "s3://bkt/ray")(repo)
    git(repo, "commit", "-qam", "remote")
    ids = [queue(trails, u, extra=("-n", f"s3-{u}"))[0] for u in (3, 4)]
    r = on_ray(trails, cluster, "-j", "2")
    assert r.code == 0, r.out + r.err
    logs = "".join(trails("queue", "logs", i).out for i in ids)
    fetched = [int(n) for n in re.findall(r"fetched (\d+) bytes", logs)]
    assert len(fetched) == 2 and max(fetched) > 0, logs
    on_cluster = recorded(repo, trails, "s3-")
    assert sorted(on_cluster) == [3, 4]
    for u in (3, 4):
        queue(trails, u, extra=("-n", f"local-{u}"))
    assert trails("exp", "run", "--run-all", "-j", "2").code == 0
    assert recorded(repo, trails, "local-") == on_cluster
    shutil.rmtree(repo / ".dvc" / "cache")
    assert trails("exp", "apply", "s3-4").code == 0
    assert (repo / "model.bin").read_text().count("\n") == 20 * 4


def test_an_entry_is_claimed_before_it_is_read(
    project: Path, trails: Trails, cluster: Cluster
) -> None:
    """An entry whose arguments cannot be read, held by another live run
    (its lock): left alone, still queued; once that run is gone, failed
    with the reason, one message, and the rest of the queue runs."""
    queue(trails, 16, extra=("-n", "fine"))
    (bad,) = queue(trails, 17)
    ref = git(project, "for-each-ref", "--format=%(refname)", f"refs/exps/queue/*{bad}*").strip()
    junk = git(project, "commit-tree", "-p", "HEAD", "-m", "not an entry", "HEAD^{tree}").strip()
    git(project, "update-ref", ref, junk)
    lock = project / ".dvc" / "tmp" / "exps" / "run" / junk[:7] / "lock"
    lock.parent.mkdir(parents=True)
    with subprocess.Popen(["sleep", "120"]) as other:
        lock.write_text(str(other.pid))
        r = on_ray(trails, cluster)
        other.kill()
    assert r.code == 0 and "taken by another worker" in r.out + r.err, r.out + r.err
    assert names(trails) == {"fine": 16}
    assert git(project, "for-each-ref", "refs/exps/queue") != "", "still queued"
    r = on_ray(trails, cluster)
    assert r.code == 1 and "Traceback" not in r.err, r.out + r.err
    assert "are missing (not a trails queue entry)" in r.out + r.err, r.out + r.err
    assert git(project, "for-each-ref", "refs/exps/queue") == ""
    status = trails("queue", "status").out
    assert any(ln.startswith(junk[:7]) and ln.endswith("failed") for ln in status.splitlines())


def test_copy_paths_travel_with_the_entry(repo: Path, trails: Trails, cluster: Cluster) -> None:
    """An entry's ``--copy-paths`` (an untracked file, an ignored folder)
    reach its run folder on the node as they reach the local executor's,
    the experiments recorded alike; one that would weigh more than
    ``exp.ray_copy_max`` fails alone, saying so, and one naming a path
    that is gone fails as the local executor fails it."""
    use = (
        "import json, os\n"
        "extra = open('extra.txt').read()\n"
        "conf = sorted(os.path.join(d, n) for d, _, ns in os.walk('conf') for n in ns)\n"
        "open('model.bin', 'w').write(extra + ''.join(open(p).read() for p in conf))\n"
        "json.dump({'extra': len(extra), 'conf': len(conf)}, open('m.json', 'w'))\n"
    )
    gen(repo, {
        "use.py": use, "params.yaml": "units: 1\n", ".gitignore": "conf/\nbig.bin\n",
        "dvc.yaml": f"stages:\n  use:\n    cmd: {PY} use.py\n    deps: [use.py]\n"
                    "    params: [units]\n    outs: [model.bin]\n"
                    "    metrics:\n      - m.json:\n          cache: false\n",
    })  # fmt: skip
    assert trails("init").code == 0
    assert trails("remote", "add", "-d", "store", str(repo.parent / "copies-remote")).code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    gen(repo, {"extra.txt": "untracked", "conf/a.env": "A=1", "conf/sub/b.env": "B=2",
               "big.bin": "x" * 3000, "gone.txt": "soon"})  # fmt: skip
    copies = ("-C", "extra.txt", "-C", "conf")
    for u in (2, 3):
        queue(trails, u, extra=(*copies, "-n", f"ray{u}"))
    (big,) = queue(trails, 4, extra=(*copies, "-C", "big.bin"))
    (gone,) = queue(trails, 5, extra=("-C", "gone.txt"))
    (repo / "gone.txt").unlink()
    assert trails("config", "exp.ray_copy_max", "2K").code == 0
    r = on_ray(trails, cluster, "-j", "2")
    assert r.code == 1, (r.out, r.err)
    assert (
        f"Experiment {big} failed: --copy-paths: extra.txt, conf, big.bin hold 3015 bytes, "
        "more than the 2048 a Ray run ships" in r.out
    ), r.out
    assert f"Experiment {gone} failed: --copy-paths: 'gone.txt' does not exist" in r.out, r.out
    on_cluster = recorded(repo, trails, "ray")
    assert sorted(on_cluster) == [2, 3]
    assert on_cluster[2]["metrics"]["m.json"] == {"extra": 9, "conf": 2}, on_cluster
    for u in (2, 3):
        queue(trails, u, extra=(*copies, "-n", f"local{u}"))
    assert trails("exp", "run", "--run-all", "-j", "2").code == 0
    assert recorded(repo, trails, "local") == on_cluster
