"""SyncJS: the JS runtime files (package data) and the Python host objects they call."""
