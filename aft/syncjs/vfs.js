// GetVFS, VirtualFS and the remote clients: see aft/syncjs/vfs_host.py.
(function (g) {
  "use strict";
})(globalThis);
