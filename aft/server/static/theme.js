// Applies the saved theme before the page paints (no flash of the wrong colours).
(function () {
  "use strict";
  try {
    var theme = localStorage.getItem("aft-theme");
    if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  } catch (e) { /* storage disabled: follow the system */ }
})();
