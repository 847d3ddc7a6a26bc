"""Cloudflare R2: the S3 backend, aimed at an account's R2 endpoint.

Target ``r2://<account id>/<bucket>/<prefix>``: the endpoint is
``https://<account id>.r2.cloudflarestorage.com`` and the signing region ``auto``, as R2
requires. ``?endpoint=...`` overrides the endpoint (another R2 jurisdiction, such as
``https://<account id>.eu.r2.cloudflarestorage.com``, or a local S3-compatible server for
tests). Payload ``{"accessKeyId", "secretAccessKey"}``: an R2 API token's S3 credentials.
Everything else is :class:`~aft.vfs.s3.S3Vfs`.
"""

from __future__ import annotations

from typing import Any

from aft.vfs.r2_schema import R2Schema, account_endpoint
from aft.vfs.s3 import S3Vfs

#: The signing region R2 expects.
REGION = "auto"


class R2Vfs(R2Schema, S3Vfs):
    """A bucket (or a prefix inside one) of a Cloudflare R2 account."""

    @classmethod
    def from_target(cls, target: str, payload: dict[str, Any]) -> R2Vfs:
        """Open ``r2://account/bucket/prefix?endpoint=...``."""
        cls.check_target(target)  # an account and a bucket
        fields = cls.parse_target(target)
        return cls(
            fields["bucket"],
            fields["prefix"],
            endpoint=fields["endpoint"] or account_endpoint(fields["account"]),
            region=REGION,
            access_key=payload.get("accessKeyId") or None,
            secret_key=payload.get("secretAccessKey") or None,
        )

    def __repr__(self) -> str:
        return f"<R2Vfs {self._bucket}/{self._prefix} at {self._endpoint}>"
