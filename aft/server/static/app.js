// The console's entry module: registers the pages (js/pages/) and starts the single-page app.

// The console runs over the service's own REST API (/v1) and session routes (/ui), in plain ES
// modules: no build step, nothing loaded from elsewhere. index.html loads this module with the
// version in its URL; nothing imports it (an import by another URL would make a second copy).
import { onSessionLost } from "./js/api.js";
import { boot, sessionLost } from "./js/auth.js";
import { dashboardPage } from "./js/pages/dashboard.js";
import { jobsPage } from "./js/pages/jobs.js";
import { apiKeysPage } from "./js/pages/keys.js";
import { schedulesPage } from "./js/pages/schedules.js";
import { scriptsPage } from "./js/pages/scripts.js";
import { secretsPage } from "./js/pages/secrets.js";
import { settingsPage } from "./js/pages/settings.js";
import { transfersPage } from "./js/pages/transfers.js";
import { vfsPage } from "./js/pages/vfs.js";
import { registerPages, startRouter } from "./js/router.js";

registerPages({
  dashboard: dashboardPage,
  scripts: scriptsPage,
  jobs: jobsPage,
  transfers: transfersPage,
  schedules: schedulesPage,
  vfs: vfsPage,
  secrets: secretsPage,
  apikeys: apiKeysPage,
  settings: settingsPage,
});
onSessionLost(sessionLost);
startRouter();
document.addEventListener("DOMContentLoaded", boot);
