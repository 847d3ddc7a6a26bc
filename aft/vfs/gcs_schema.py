"""The Google Cloud Storage profile: its fields and target grammar, readable without the
Google libraries (see gcs.py)."""

from __future__ import annotations

from aft.vfs.base import Field, VfsSchema


class GcsSchema(VfsSchema):
    """Target ``gs://bucket/prefix?endpoint=...``, payload ``{"credentialsJSON"}``."""

    type_name = "GCP"
    summary = "Google Cloud Storage"
    noun = "a GCS target"
    shape = "gs://bucket/prefix"
    schemes = ("gs",)
    target_fields = (
        Field("bucket", "Bucket", part="host", kind="name", required=True, about="bucket"),
        Field("prefix", "Prefix", part="path", kind="prefix", help="Folder in the bucket."),
        Field("endpoint", "Endpoint", kind="url", placeholder="https://storage.googleapis.com",
              about="endpoint"),
    )  # fmt: skip
    payload_fields = (
        Field("credentialsJSON", "Service account key (JSON)", kind="json", secret=True,
              about="credentials|service account"),
    )  # fmt: skip
