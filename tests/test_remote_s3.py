"""Data remotes on S3: a real S3 server (moto's, on 127.0.0.1, started by
the fixture) shared by two clones; the faults a user meets named."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests import remote_scenario
from tests.conftest import Result, gen, git
from tests.test_confine_entry import snapshot

pytestmark = pytest.mark.slow

KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3() -> Iterator[str]:
    """An S3 endpoint with the bucket ``bkt``; stopped after the module."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
    client.create_bucket(Bucket="bkt")
    yield url
    server.stop()


def _remote(endpoint: str, url: str = "s3://bkt/project") -> Callable[[Path], None]:
    def setup(repo: Path) -> None:
        def run(*args: str) -> None:
            r = remote_scenario.run_trails(*args, cwd=repo)
            assert r.code == 0, r.err

        run("remote", "add", "-d", "store", url)
        run("remote", "modify", "store", "endpointurl", endpoint)
        run("remote", "modify", "store", "region", "us-east-1")
        for key, value in (("access_key_id", "testing"), ("secret_access_key", "testing")):
            run("remote", "modify", "--local", "store", key, value)

    return setup


def test_share_outputs_and_experiments_through_s3(
    repo: Path, trails: Callable[..., Result], s3: str
) -> None:
    remote_scenario.share(repo, trails, _remote(s3))


def test_faults_name_the_remote_and_change_nothing(
    repo: Path, trails: Callable[..., Result], s3: str
) -> None:
    assert trails("init").code == 0
    gen(repo, {"d/a.txt": "a\n"}, age=5)
    assert trails("add", "d").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    _remote(s3, "s3://no-such-bucket/p")(repo)
    before = snapshot(repo)
    r = trails("push")
    assert r.code == 1 and "remote 'store'" in r.err and "does not exist" in r.err, r.err
    assert "Create it, or fix the remote's url." in r.err
    dead = f"http://127.0.0.1:{_free_port()}"
    assert trails("remote", "modify", "store", "endpointurl", dead).code == 0
    before = snapshot(repo)
    r = trails("push")
    assert r.code == 1 and f"cannot reach {dead}" in r.err, r.err
    assert "trails remote modify store endpointurl URL" in r.err
    assert "Traceback" not in r.err
    r = trails("status", "-c")
    assert r.code == 1 and "cannot reach" in r.err
    assert snapshot(repo) == before


def test_wrong_credentials_are_named_and_change_nothing(
    repo: Path, trails: Callable[..., Result], s3: str
) -> None:
    """moto's server checks signatures against its IAM users while
    authentication is on: the test's keys belong to no user."""
    from moto.core.authorization import enable_iam_authentication

    assert trails("init").code == 0
    gen(repo, {"d/a.txt": "a\n"}, age=5)
    assert trails("add", "d").code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "data")
    _remote(s3)(repo)
    before = snapshot(repo)
    with enable_iam_authentication():
        for verb in (("push",), ("status", "-c")):
            r = trails(*verb)
            assert r.code == 1, r.out
            assert (
                "remote 'store' (s3://bkt/project/): the credentials were refused "
                "(InvalidAccessKeyId)" in r.err
            ), r.err
            assert "Check access_key_id/secret_access_key" in r.err and "Traceback" not in r.err
    assert snapshot(repo) == before
    assert trails("push").code == 0, "the same keys once the server takes any"
