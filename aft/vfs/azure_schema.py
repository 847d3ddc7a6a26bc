"""The Azure Blob profile: its fields and target grammar, readable without the Azure SDK."""

from __future__ import annotations

from aft.vfs.base import Field, VfsSchema


class AzureSchema(VfsSchema):
    """Target ``azure://account/container/prefix?endpoint=...``, payload ``{"key"}`` or
    ``{"sas"}``."""

    type_name = "Azure"
    summary = "Azure Blob Storage"
    noun = "an Azure target"
    shape = "azure://account/container/prefix"
    schemes = ("azure",)
    target_fields = (
        Field("account", "Storage account", part="host", kind="name", required=True,
              about="account name|storage account"),
        Field("container", "Container", part="path", kind="name", required=True,
              about="container"),
        Field("prefix", "Prefix", part="path", kind="prefix", help="Folder in the container."),
        Field("endpoint", "Endpoint", kind="url",
              placeholder="https://ACCOUNT.blob.core.windows.net", about="endpoint"),
    )  # fmt: skip
    payload_fields = (
        Field("key", "Account key", secret=True, help="Give the account key or a SAS token.",
              about="account key|base64"),
        Field("sas", "SAS token", secret=True, about="sas|signature"),
    )  # fmt: skip
