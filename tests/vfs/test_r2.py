"""Cloudflare R2: the S3 backend on an account endpoint, run here against SeaweedFS through
the endpoint override (signing region ``auto``, as R2 wants)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from aft.exceptions import VfsPathError
from aft.vfs import open_vfs
from aft.vfs.base import Vfs
from aft.vfs.r2 import R2Vfs
from aft.vfs.s3 import S3Vfs
from tests.servers.seaweedfs import S3Server
from tests.vfs.contract import VfsContract, VfsFactory


def r2_target(server: S3Server, bucket: str, prefix: str = "") -> str:
    return f"r2://0123abcd/{bucket}/{prefix}?endpoint={server.endpoint}"


class TestR2Contract(VfsContract):
    """A prefix of a shared bucket per VFS."""

    real_dirs = False

    @pytest.fixture
    def vfs_factory(self, s3_server: S3Server, s3_bucket: str) -> Iterator[VfsFactory]:
        made: list[Vfs] = []

        def make() -> Vfs:
            target = r2_target(s3_server, s3_bucket, f"runs/{secrets.token_hex(4)}")
            made.append(open_vfs("R2FS", target, s3_server.payload))
            return made[-1]

        yield make
        for vfs in made:
            vfs.close()


def test_the_account_names_the_endpoint_and_the_region_is_auto() -> None:
    vfs = open_vfs("R2FS", "r2://0123abcd/backups/2026", {"accessKeyId": "k"})
    assert isinstance(vfs, R2Vfs) and isinstance(vfs, S3Vfs)
    assert vfs._endpoint == "https://0123abcd.r2.cloudflarestorage.com"
    assert vfs._region == "auto"
    assert (vfs._bucket, vfs._prefix) == ("backups", "2026/")
    assert vfs.type_name == "R2FS"
    vfs.close()


def test_what_is_written_through_r2_is_in_the_bucket(s3_server: S3Server, s3_bucket: str) -> None:
    with open_vfs("R2FS", r2_target(s3_server, s3_bucket, "in"), s3_server.payload) as vfs:
        vfs.write_bytes("/a.txt", b"through r2")
    got = s3_server.client().get_object(Bucket=s3_bucket, Key="in/a.txt")["Body"].read()
    assert got == b"through r2"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("r2://0123abcd", "Bucket is required"),
        ("r2://0123abcd/b?region=eu", "unknown R2FS target parameter"),
        ("s3://b", "r2://account/bucket/prefix"),
        ("r2://0123abcd/b?endpoint=localhost:9000", "Endpoint is a URL"),
    ],
)
def test_bad_targets_are_refused(target: str, message: str) -> None:
    with pytest.raises(VfsPathError, match=message):
        open_vfs("R2FS", target, {})
