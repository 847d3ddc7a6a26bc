// The theme buttons: system, light or dark, kept in localStorage (static/theme.js applies it).
import { clear } from "./dom.js";
import { icon } from "./icons.js";

export const THEMES = ["system", "light", "dark"];
const NAMES = { system: "Theme: system", light: "Theme: light", dark: "Theme: dark" };

// The theme after theme, in the order the button goes through them.
export function nextTheme(theme) {
  return THEMES[(THEMES.indexOf(theme) + 1) % THEMES.length];
}

function currentTheme() {
  return document.documentElement.dataset.theme || "system";
}

export function cycleTheme() {
  const next = nextTheme(currentTheme());
  try {
    if (next === "system") localStorage.removeItem("aft-theme");
    else localStorage.setItem("aft-theme", next);
  } catch (e) { /* storage disabled: this page only */ }
  if (next === "system") delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = next;
  paintTheme();
}

// Every theme button shows the current theme.
export function paintTheme() {
  const theme = currentTheme();
  const iconName = theme === "system" ? "system" : theme === "light" ? "sun" : "moon";
  document.querySelectorAll(".theme-button").forEach((b) => {
    if (b.classList.contains("icon-button")) clear(b, icon(iconName));
    else clear(b, icon(iconName), NAMES[theme]);
    b.setAttribute("aria-label", `${NAMES[theme]} (switch)`);
    b.title = `${NAMES[theme]}; click to switch`;
  });
}
