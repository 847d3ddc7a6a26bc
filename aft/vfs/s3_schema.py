"""The S3 profile: its fields and target grammar, readable without botocore (see s3.py)."""

from __future__ import annotations

from typing import ClassVar

from aft.vfs.base import Field, VfsSchema


class S3Schema(VfsSchema):
    """Target ``s3://bucket/prefix?endpoint=...&region=...&timeout=10`` (no endpoint: AWS;
    timeout: seconds to wait for a connection to the endpoint), payload
    ``{"accessKeyId", "secretAccessKey"}`` (and ``"sessionToken"`` for temporary ones)."""

    type_name = "S3"
    summary = "Amazon S3 or any S3-compatible store"
    noun = "an S3 target"
    shape = "s3://bucket/prefix"
    schemes = ("s3",)
    target_fields: ClassVar[tuple[Field, ...]] = (
        Field("bucket", "Bucket", part="host", kind="name", required=True, about="bucket"),
        Field("prefix", "Prefix", part="path", kind="prefix", help="Folder in the bucket."),
        Field("endpoint", "Endpoint", kind="url", placeholder="https://s3.example.com",
              help="Leave empty for AWS.", about="endpoint"),
        Field("region", "Region", default="us-east-1", about="region"),
        Field("timeout", "Connect timeout (seconds)", kind="number", default="10",
              advanced=True, about="timeout",
              help="Seconds to wait for the endpoint to accept a connection."),
    )  # fmt: skip
    payload_fields: ClassVar[tuple[Field, ...]] = (
        Field("accessKeyId", "Access key id", about="access key"),
        Field("secretAccessKey", "Secret access key", secret=True, about="signature"),
        Field("sessionToken", "Session token", secret=True, advanced=True, about="token"),
    )
