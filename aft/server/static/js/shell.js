// The signed-in frame: the navigation (a drawer on small screens), sign-out and theme buttons.
import { clear, h } from "./dom.js";
import { icon } from "./icons.js";
import { cycleTheme, paintTheme } from "./theme-switch.js";

// The pages in the navigation: [path, label]; each path also names its icon.
export const NAV = [
  ["dashboard", "Dashboard"], ["scripts", "Scripts"], ["jobs", "Jobs"], ["transfers", "Transfers"], ["schedules", "Schedules"],
  ["vfs", "VFS Library"], ["secrets", "Secrets"], ["apikeys", "API Keys"], ["settings", "Settings"],
];

export function buildShell(signOut) {
  clear(document.getElementById("nav"), NAV.map(([path, label]) =>
    h("li", null, h("a", { class: "nav-link", href: `#/${path}`, "data-page": path }, icon(path), label))));
  const menu = document.getElementById("menu-button");
  clear(menu, icon("menu"));
  const shell = document.getElementById("shell");
  const setNav = (open) => {
    shell.classList.toggle("nav-open", open);
    menu.setAttribute("aria-expanded", String(open));
    document.getElementById("scrim").hidden = !open;
  };
  menu.onclick = () => setNav(!shell.classList.contains("nav-open"));
  document.onkeydown = (event) => {
    if (event.key === "Escape" && shell.classList.contains("nav-open")) {
      setNav(false);
      menu.focus();
    }
  };
  document.getElementById("skip-link").onclick = (event) => {
    event.preventDefault();  // the hash is the router's: focus the content instead
    const main = document.getElementById("main");
    (main.querySelector("h1") || main).focus();
  };
  document.getElementById("scrim").onclick = () => setNav(false);
  document.getElementById("nav").onclick = () => setNav(false);
  clear(document.getElementById("signout"), icon("signout"), "Sign out");
  document.getElementById("signout").onclick = signOut;
  document.querySelectorAll(".theme-button").forEach((b) => { b.onclick = cycleTheme; });
  paintTheme();
}
