"""An S3 (or S3-compatible: ``endpointurl``) remote through boto3.

Why boto3: it is the AWS SDK itself (credentials from the options, a
``profile``, the usual ``AWS_*`` variables and ``~/.aws`` files, exactly
as the AWS CLI finds them), its client is thread-safe, so ``jobs`` threads
share one connection pool, and s3transfer (which it ships) does multipart
uploads and downloads of large files. s3fs is a layer over aiobotocore over
the same botocore, with more to import and nothing the layout here needs
(it packs small objects, so the request count, not the client, decides the
speed); the Rust ``object_store`` crate would add tokio and an HTTP stack to
the native module for the same requests. See benches/RESULTS-remote.md."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from trails.errors import TrailsError
from trails.remote.backend import Counter, RemoteAccessError

#: Large files go up and down in parts of this size, several at once.
PART_BYTES = 64 * 1024 * 1024


def _boto3() -> Any:
    try:
        import boto3
    except ImportError:
        raise TrailsError(
            "S3 remotes need boto3: pip install 'trails[s3]'",
        ) from None
    return boto3


class S3Backend(Counter):
    def __init__(self, name: str, bucket: str, prefix: str, options: dict[str, str]) -> None:
        super().__init__()
        self.name = name
        self.bucket = bucket
        self.prefix = f"{prefix}/" if prefix else ""
        self.options = options
        self._client: Any = None
        self._lock = threading.Lock()
        self.jobs = int(options.get("jobs", "0") or 0) or 16

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Any:
        boto3 = _boto3()
        from botocore.config import Config

        o = self.options
        session = boto3.session.Session(
            profile_name=o.get("profile") or None,
            aws_access_key_id=o.get("access_key_id") or None,
            aws_secret_access_key=o.get("secret_access_key") or None,
            aws_session_token=o.get("session_token") or None,
            region_name=o.get("region") or None,
        )
        config = Config(
            max_pool_connections=max(self.jobs * 2, 10),
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        )
        verify: Any = o.get("verify", "true").lower() not in ("false", "0", "no")
        try:
            return session.client("s3", endpoint_url=o.get("endpointurl") or None,
                                  config=config, verify=verify)  # fmt: skip
        except Exception as exc:  # botocore's profile and config errors
            raise self._error(exc) from None

    def _error(self, exc: Exception, *, key: str | None = None) -> Exception:
        """One message naming the remote and what to do, for what botocore
        raises. ``key``: reading that file, whose absence is a
        ``FileNotFoundError`` (an index naming a file the remote lost)."""
        from botocore import exceptions as e

        where = f"remote '{self.name}' (s3://{self.bucket}/{self.prefix})"
        code = ""
        if isinstance(exc, e.ClientError):
            code = str(exc.response.get("Error", {}).get("Code", ""))
        if isinstance(exc, e.EndpointConnectionError | e.ConnectTimeoutError | e.ReadTimeoutError):
            return RemoteAccessError(
                f"{where}: cannot reach {self.options.get('endpointurl') or 'S3'}",
                hint="Check the network and the remote's endpointurl "
                f"('trails remote modify {self.name} endpointurl URL').",
            )
        if isinstance(exc, e.NoCredentialsError | e.PartialCredentialsError):
            return RemoteAccessError(
                f"{where}: no AWS credentials found",
                hint="Set access_key_id/secret_access_key with 'trails remote modify --local', "
                "a profile, or the AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY variables.",
            )
        if isinstance(exc, e.ProfileNotFound):
            return RemoteAccessError(f"{where}: {exc}", hint="Fix the remote's profile option.")
        if key is not None and code in ("NoSuchKey", "404"):
            return FileNotFoundError(f"{where}: no file {key}")
        if code in ("NoSuchBucket",):
            return RemoteAccessError(f"{where}: bucket '{self.bucket}' does not exist",
                                     hint="Create it, or fix the remote's url.")  # fmt: skip
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403",
                    "InvalidToken", "ExpiredToken"):  # fmt: skip
            return RemoteAccessError(
                f"{where}: the credentials were refused ({code})",
                hint="Check access_key_id/secret_access_key (or the profile) and the "
                "bucket's permissions.",
            )
        return RemoteAccessError(f"{where}: {exc}")

    def _call(self, method: str, **kwargs: Any) -> Any:
        self.count()
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except TrailsError:
            raise
        except Exception as exc:
            reading = kwargs.get("Key") if method == "get_object" else None
            raise self._error(exc, key=reading) from None

    def check_readable(self) -> None:
        """A missing bucket or refused credentials show at the first listing."""

    def list(self, prefix: str) -> list[str]:
        names: list[str] = []
        token: str | None = None
        full = self.prefix + prefix
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call("list_objects_v2", Prefix=full, Delimiter="/", **extra)
            names += [c["Key"][len(full) :] for c in page.get("Contents", [])]
            token = page.get("NextContinuationToken")
            if not token:
                return names

    def get(self, key: str) -> bytes:
        data: bytes = self._call("get_object", Key=self.prefix + key)["Body"].read()
        return data

    def get_range(self, key: str, start: int, length: int) -> bytes:
        r = self._call("get_object", Key=self.prefix + key,
                       Range=f"bytes={start}-{start + length - 1}")  # fmt: skip
        data: bytes = r["Body"].read()
        return data

    def _transfer(self) -> Any:
        from boto3.s3.transfer import TransferConfig

        return TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES,
                              max_concurrency=self.jobs, use_threads=True)  # fmt: skip

    def get_file(self, key: str, dest: Path) -> None:
        self.count()
        try:
            self.client.download_file(self.bucket, self.prefix + key, str(dest),
                                      Config=self._transfer())  # fmt: skip
        except Exception as exc:
            raise self._error(exc, key=key) from None

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        self.count()
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.prefix + key)
            return True
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._error(exc) from None
        except Exception as exc:
            raise self._error(exc) from None

    def put(self, key: str, data: bytes) -> None:
        self._call("put_object", Key=self.prefix + key, Body=data)

    def put_file(self, key: str, path: Path) -> None:
        size = path.stat().st_size
        self.count(max(1, -(-size // PART_BYTES)) + (2 if size > PART_BYTES else 0))
        try:
            self.client.upload_file(str(path), self.bucket, self.prefix + key,
                                    Config=self._transfer())  # fmt: skip
        except Exception as exc:
            raise self._error(exc) from None
