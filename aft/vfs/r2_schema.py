"""The Cloudflare R2 profile: its fields and target grammar, readable without botocore."""

from __future__ import annotations

from typing import ClassVar

from aft.vfs.base import Field, VfsSchema


def account_endpoint(account: str) -> str:
    """The S3 endpoint of an R2 account."""
    return f"https://{account}.r2.cloudflarestorage.com"


class R2Schema(VfsSchema):
    """Target ``r2://account/bucket/prefix?endpoint=...``, payload
    ``{"accessKeyId", "secretAccessKey"}`` (see :mod:`aft.vfs.r2`)."""

    type_name = "R2FS"
    summary = "Cloudflare R2 (S3-compatible object storage)"
    noun = "an R2 target"
    shape = "r2://account/bucket/prefix"
    schemes = ("r2",)
    target_fields: ClassVar[tuple[Field, ...]] = (
        Field("account", "Account id", part="host", kind="name", required=True,
              help="Your Cloudflare account id.", about="account"),
        Field("bucket", "Bucket", part="path", kind="name", required=True, about="bucket"),
        Field("prefix", "Prefix", part="path", kind="prefix", help="Folder in the bucket."),
        Field("endpoint", "Endpoint", kind="url", advanced=True,
              placeholder="https://<account>.eu.r2.cloudflarestorage.com",
              help="Leave empty for the account's own R2 endpoint.", about="endpoint"),
    )  # fmt: skip
    payload_fields: ClassVar[tuple[Field, ...]] = (
        Field("accessKeyId", "Access key id", about="access key"),
        Field("secretAccessKey", "Secret access key", secret=True, about="signature"),
    )
