// The hash router: #/page/part?query shows a page; a page may guard leaving it (unsaved work).
import { session } from "./api.js";
import { card, failure } from "./blocks.js";
import { confirmDialog } from "./dialogs.js";
import { clear, h } from "./dom.js";
import { NAV } from "./shell.js";

// A location hash as the page's path parts (decoded) and query: "#/jobs/j1?status=failed"
// gives parts ["jobs", "j1"] and status=failed; an empty hash is the dashboard.
export function parseHash(hash) {
  const raw = hash.replace(/^#\/?/, "") || "dashboard";
  const [path, query] = raw.split("?");
  return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query || "") };
}

// The page that shows for these parts: the one the first part names (the dashboard for
// none); null when it names none.
export function pageName(parts, pages) {
  if (!parts.length) return "dashboard";
  return Object.hasOwn(pages, parts[0]) ? parts[0] : null;
}

// The title of the browser tab on a page, naming the item shown when there is one:
// "Nightly backup · Jobs · aft".
export function pageTitle(name, item = null) {
  const entry = NAV.find(([path]) => path === name);
  const section = entry ? entry[1] : "Not found";
  return [item, section, "aft"].filter(Boolean).join(" · ");
}

// The page for a location that names none.
function notFoundPage(main) {
  main.append(h("div", { class: "page-head" }, h("div", null, h("h1", { text: "Page not found" }),
    h("p", { class: "sub" }, "Nothing is at this address. It may have been renamed or deleted."))),
  card(null, null, h("div", { class: "card-body" }, h("a", { href: "#/dashboard" }, "Go to the Dashboard"))));
}

let pages = {};
let routeGen = 0;
let current = null;
let ignoreHash = false;
let lastHash = "";

// The pages by name: async (main, parts, query, ctx) that fill main.
export function registerPages(byName) {
  pages = byName;
}

// The context a page gets: alive() until another page shows, every(ms, fn) to poll while
// it lives and the tab is visible, title(item) to name what it shows in the browser tab,
// and guard (a function giving why not to leave, or null).
function pageContext(name) {
  const gen = ++routeGen;
  const timers = [];
  const ctx = {
    alive: () => gen === routeGen,
    every(ms, fn) {
      let running = false;
      const tick = async () => {
        if (running || !ctx.alive() || document.hidden) return;
        running = true;
        try { await fn(); } catch (e) { if (e.status !== 401) console.warn(e); } finally { running = false; }
      };
      timers.push(setInterval(tick, ms));
    },
    stop() { timers.forEach(clearInterval); },
    title(item) { if (ctx.alive()) document.title = pageTitle(name, item); },
    guard: null,
  };
  return ctx;
}

// Shows the page of the location's hash (after the current page's guard lets it go); after
// a navigation (moved), the keyboard's focus goes to the new page's heading, unless the page
// put it somewhere itself.
export async function route(moved = false) {
  if (ignoreHash) {
    ignoreHash = false;
    return;
  }
  if (current && current.guard) {
    const reason = current.guard();
    if (reason && !(await confirmDialog({ title: "Leave this page?", body: reason, confirm: "Leave", danger: true }))) {
      ignoreHash = true;
      location.hash = lastHash;
      return;
    }
  }
  lastHash = location.hash;
  if (current) current.stop();
  const { parts, query } = parseHash(location.hash);
  const name = pageName(parts, pages);
  document.querySelectorAll("#nav .nav-link").forEach((a) => {
    if (a.dataset.page === name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  });
  const ctx = pageContext(name);
  current = ctx;
  const main = document.getElementById("main");
  clear(main);
  document.title = pageTitle(name);
  // "Loading…" until the page shows its first part.
  const placeholder = h("div", { class: "empty page-loading", role: "status" }, "Loading…");
  main.append(placeholder);
  const shown = new MutationObserver(() => {
    if (main.childElementCount > 1) placeholder.remove();
  });
  shown.observe(main, { childList: true });
  try {
    await (name ? pages[name] : notFoundPage)(main, parts.slice(1), query, ctx);
  } catch (error) {
    if (ctx.alive() && error.status !== 401) {
      main.append(card(null, null, failure(error)));
    }
  } finally {
    shown.disconnect();
    if (ctx.alive()) placeholder.remove();
  }
  const heading = main.querySelector("h1");
  if (moved && ctx.alive() && heading && !main.contains(document.activeElement)) heading.focus({ preventScroll: true });
}

// Goes to hash, showing its page again when it is the current one.
export function go(hash) {
  if (location.hash === hash) route(true);
  else location.hash = hash;
}

// Ends the current page (its polling stops, its late answers are dropped).
export function stopPage() {
  if (current) current.stop();
  current = null;
  routeGen++;
}

// Follows the location's hash while signed in; asks before the tab closes on unsaved work.
export function startRouter() {
  window.addEventListener("hashchange", () => {
    if (session.csrf) route(true);
  });
  window.addEventListener("beforeunload", (event) => {
    if (current && current.guard && current.guard()) event.preventDefault();
  });
}
