// aft web console: a small single-page app over the service's own REST API (/v1) and its
// session routes (/ui). Plain JavaScript, no build step, nothing loaded from elsewhere.
// Every value from the server reaches the page as text (textContent), never as HTML.
"use strict";
(function () {
  // ---- DOM helpers ----------------------------------------------------------------------

  const PROPS = new Set(["disabled", "hidden", "readOnly", "htmlFor"]);

  function h(tag, props, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") el.className = value;
      else if (key === "text") el.textContent = value;
      else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
      else if (PROPS.has(key)) el[key] = value;
      // Defaults too, so that form.reset() comes back to them.
      else if (key === "value") { el.defaultValue = value; el.value = value; }
      else if (key === "checked") { el.defaultChecked = true; el.checked = true; }
      else if (key === "selected") { el.defaultSelected = true; el.selected = true; }
      else el.setAttribute(key, value === true ? "" : String(value));
    }
    append(el, children);
    return el;
  }

  function append(el, children) {
    for (const child of [children].flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  function clear(el, ...children) {
    el.replaceChildren();
    return append(el, children);
  }

  const SVG = "http://www.w3.org/2000/svg";
  const ICONS = {
    dashboard: "M4 4h6v8H4z|M14 4h6v5h-6z|M14 13h6v7h-6z|M4 16h6v4H4z",
    scripts: "M14 3H7a2 2 0 0 0-2 2v14a2 2 0 0 0 2 2h10a2 2 0 0 0 2-2V8z|M14 3v5h5|M10 12l-2 2 2 2|M14 12l2 2-2 2",
    vfs: "M4 6c0-1.7 3.6-3 8-3s8 1.3 8 3-3.6 3-8 3-8-1.3-8-3z|M4 6v12c0 1.7 3.6 3 8 3s8-1.3 8-3V6|M4 12c0 1.7 3.6 3 8 3s8-1.3 8-3",
    secrets: "M6 11h12v10H6z|M8 11V7a4 4 0 0 1 8 0v4|M12 15v2",
    apikeys: "M11 15.5a3.5 3.5 0 1 1-7 0a3.5 3.5 0 1 1 7 0|M10 13l9-9|M16 7l3 3|M13.5 9.5l2 2",
    schedules: "M21 12a9 9 0 1 1-18 0a9 9 0 1 1 18 0|M12 7v5l3 2",
    jobs: "M3 12h4l3-8 4 16 3-8h4",
    settings: "M4 6h9|M17 6h3|M4 12h3|M11 12h9|M4 18h11|M19 18h1|M15 4v4|M9 10v4|M17 16v4",
    sun: "M16 12a4 4 0 1 1-8 0a4 4 0 1 1 8 0|M12 2v2|M12 20v2|M4.9 4.9l1.4 1.4|M17.7 17.7l1.4 1.4|M2 12h2|M20 12h2|M4.9 19.1l1.4-1.4|M17.7 6.3l1.4-1.4",
    moon: "M21 12.8A9 9 0 1 1 11.2 3a7 7 0 0 0 9.8 9.8z",
    system: "M3 4h18v12H3z|M8 20h8|M12 16v4",
    signout: "M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4|M16 17l5-5-5-5|M21 12H9",
    menu: "M4 6h16|M4 12h16|M4 18h16",
    play: "M7 4l13 8-13 8z",
    plus: "M12 5v14|M5 12h14",
    copy: "M9 9h11v11H9z|M5 15H4V4h11v1",
    stop: "M6 6h12v12H6z",
    check: "M20 6L9 17l-5-5",
    alert: "M12 9v4|M12 17h.01|M10.3 3.9L1.8 18a2 2 0 0 0 1.7 3h17a2 2 0 0 0 1.7-3L13.7 3.9a2 2 0 0 0-3.4 0z",
  };

  function icon(name) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("class", "icon");
    svg.setAttribute("aria-hidden", "true");
    for (const d of ICONS[name].split("|")) {
      const path = document.createElementNS(SVG, "path");
      path.setAttribute("d", d);
      svg.append(path);
    }
    return svg;
  }

  // ---- formatting -----------------------------------------------------------------------

  const pad = (n, w = 2) => String(n).padStart(w, "0");

  function fmtTime(ts) {
    if (!ts) return "—";
    const d = new Date(ts * 1000);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  function ago(ts) {
    if (!ts) return "never";
    const s = Math.max(0, Date.now() / 1000 - ts);
    if (s < 45) return "just now";
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400) return `${Math.round(s / 3600)} h ago`;
    if (s < 86400 * 30) return `${Math.round(s / 86400)} d ago`;
    return fmtTime(ts).slice(0, 10);
  }

  function when(ts) {
    return h("time", { title: fmtTime(ts), datetime: ts ? new Date(ts * 1000).toISOString() : null, class: "nowrap" }, ago(ts));
  }

  function duration(job) {
    if (!job.started) return "—";
    const s = (job.finished || Date.now() / 1000) - job.started;
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 90) return `${s.toFixed(1)} s`;
    if (s < 5400) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
    return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  }

  function badge(text, kind) {
    return h("span", { class: `badge s-${kind || text}` }, text);
  }

  const FINAL = new Set(["succeeded", "failed", "halted", "interrupted"]);
  const STATES = ["queued", "running", "succeeded", "failed", "halted", "interrupted"];
  const enc = encodeURIComponent;

  // ---- talking to the service -----------------------------------------------------------

  const session = { csrf: null, username: null, version: "" };

  class ApiError extends Error {
    constructor(status, data) {
      super((data && data.message) || `the service answered HTTP ${status}`);
      this.status = status;
      this.code = data && data.error;
      this.field = data && data.field;
    }
  }

  class FieldErrors extends Error {
    constructor(problems) {
      super(Object.values(problems)[0]);
      this.problems = problems;
    }
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (method !== "GET" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
    let response;
    try {
      response = await fetch(path, init);
    } catch (e) {
      throw new ApiError(0, { error: "unreachable", message: "The aft service cannot be reached. Is it running?" });
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      const error = new ApiError(response.status, data);
      if (response.status === 401 && path.startsWith("/v1/")) sessionLost();
      throw error;
    }
    return data;
  }

  // ---- toasts and dialogs ---------------------------------------------------------------

  function toast(message, kind) {
    const el = h("div", { class: `toast ${kind || ""}` }, message);
    document.getElementById("toasts").append(el);
    setTimeout(() => el.remove(), kind === "error" ? 6000 : 3500);
  }

  function openDialog(build) {
    const dialog = document.getElementById("dialog");
    return new Promise((resolve) => {
      let done = false;
      const close = (value) => {
        if (done) return;
        done = true;
        dialog.close();
        resolve(value);
      };
      dialog.onclose = () => close(undefined);
      dialog.oncancel = () => close(undefined);
      clear(dialog, build(close));
      dialog.showModal();
      const first = dialog.querySelector("[autofocus], input, textarea, select");
      if (first) first.focus();
    });
  }

  function confirmDialog({ title, body, confirm = "Delete", danger = true }) {
    return openDialog((close) => [
      h("div", { class: "dialog-body" }, h("h2", { text: title }), h("p", { class: "muted" }, body)),
      h("div", { class: "form-actions" },
        h("button", { type: "button", class: "btn", onclick: () => close(false) }, "Cancel"),
        h("button", { type: "button", class: `btn ${danger ? "danger solid" : "primary"}`, autofocus: true, onclick: () => close(true) }, confirm)),
    ]).then(Boolean);
  }

  // ---- forms: fields with their own error line ------------------------------------------

  let uid = 0;

  function field(opts) {
    const id = `f${++uid}-${opts.name}`;
    const hintId = opts.hint ? `${id}-hint` : null;
    let input;
    const common = {
      id, name: opts.name, "aria-describedby": hintId, required: opts.required || null,
      placeholder: opts.placeholder, autocomplete: opts.autocomplete || "off",
      class: opts.mono ? "mono" : null, readOnly: opts.readOnly, spellcheck: opts.spellcheck ? null : "false",
    };
    if (opts.type === "select") {
      input = h("select", common, (opts.options || []).map((o) => {
        const [value, label] = Array.isArray(o) ? o : [o, o];
        return h("option", { value, selected: String(opts.value ?? "") === String(value) }, label);
      }));
    } else if (opts.type === "textarea") {
      input = h("textarea", { ...common, rows: opts.rows || 4, value: opts.value ?? "" });
    } else if (opts.type === "checkbox") {
      input = h("input", { type: "checkbox", id, name: opts.name, checked: Boolean(opts.value), "aria-describedby": hintId });
      const box = h("div", { class: "field", "data-field": opts.name },
        h("label", { class: "check", htmlFor: id }, input,
          h("span", { class: "check-text" }, h("strong", { text: opts.label }), opts.hint ? h("span", { class: "hint", id: hintId }, opts.hint) : null)));
      box.input = input;
      return box;
    } else {
      input = h("input", {
        ...common, type: opts.type || "text", value: opts.value ?? "", min: opts.min, max: opts.max,
        inputmode: opts.inputmode, autocapitalize: "off",
      });
    }
    const label = h("label", { htmlFor: id }, opts.label, opts.optional ? h("span", { class: "optional" }, " (optional)") : null);
    const control = opts.addon ? h("div", { class: "input-group" }, input, opts.addon) : input;
    const wrap = h("div", { class: "field", "data-field": opts.name }, label, control,
      opts.hint ? h("p", { class: "hint", id: hintId }, opts.hint) : null);
    wrap.input = input;
    return wrap;
  }

  function makeForm(...children) {
    return h("form", { class: "form", novalidate: true }, h("div", { class: "form-error", role: "alert", hidden: true }), children);
  }

  function clearErrors(form) {
    form.querySelectorAll(".error-text").forEach((el) => el.remove());
    form.querySelectorAll("[aria-invalid]").forEach((el) => {
      el.removeAttribute("aria-invalid");
      const ids = (el.getAttribute("aria-describedby") || "").split(" ").filter((x) => x && !x.endsWith("-error"));
      if (ids.length) el.setAttribute("aria-describedby", ids.join(" "));
      else el.removeAttribute("aria-describedby");
    });
    const top = form.querySelector(".form-error");
    top.hidden = true;
    top.textContent = "";
  }

  function setFieldError(form, name, message) {
    const wrap = name && form.querySelector(`[data-field="${CSS.escape(name)}"]`);
    if (!wrap) {
      const top = form.querySelector(".form-error");
      top.textContent = message;
      top.hidden = false;
      return top;
    }
    const input = wrap.input || wrap.querySelector("input, select, textarea");
    if (!input || !input.id) {
      wrap.append(h("p", { class: "error-text", role: "alert" }, message));
      return input || wrap;
    }
    const errorId = `${input.id}-error`;
    const error = h("p", { class: "error-text", id: errorId, role: "alert" }, message);
    wrap.append(error);
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", `${input.getAttribute("aria-describedby") || ""} ${errorId}`.trim());
    return input;
  }

  function showError(form, error, guess) {
    if (error instanceof FieldErrors) {
      const targets = Object.entries(error.problems).map(([name, message]) => setFieldError(form, name, message));
      if (targets[0] && targets[0].focus) targets[0].focus();
      return;
    }
    const name = error.field || (guess && error.status && error.status < 500 ? guess(error.message || "") : null);
    const target = setFieldError(form, name, capitalize(error.message || String(error)));
    if (target && target.focus && target.tagName !== "DIV") target.focus();
  }

  function capitalize(text) {
    return text ? text.charAt(0).toUpperCase() + text.slice(1) : text;
  }

  function guessBy(rules) {
    return (message) => {
      for (const [pattern, name] of rules) if (pattern.test(message)) return name;
      return null;
    };
  }

  function onSubmit(form, handler, guess) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = event.submitter || form.querySelector("button[type=submit]");
      clearErrors(form);
      if (button) {
        button.disabled = true;
        button.classList.add("busy");
      }
      try {
        await handler(form.elements, button);
      } catch (error) {
        if (!(error instanceof ApiError) && !(error instanceof FieldErrors)) console.error(error);
        showError(form, error, guess);
      } finally {
        if (button) {
          button.disabled = false;
          button.classList.remove("busy");
        }
      }
    });
    return form;
  }

  function check(problems) {
    if (Object.keys(problems).length) throw new FieldErrors(problems);
  }

  // Params typed as JSON; lone backslashes (Windows paths) are kept as typed, as `aft run -p` does.
  function parseParams(text) {
    if (!text.trim()) return {};
    let value;
    try {
      value = JSON.parse(text.replace(/\\(\\|"|\/|u[0-9a-fA-F]{4})?/g, (m, kept) => (kept ? m : "\\\\")));
    } catch (e) {
      throw new FieldErrors({ params: `Params are not valid JSON: ${e.message}` });
    }
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      throw new FieldErrors({ params: 'Params must be a JSON object, like {"name": "value"}' });
    }
    for (const [key, item] of Object.entries(value)) {
      if (item !== null && typeof item === "object") throw new FieldErrors({ params: `Params must be flat: "${key}" holds an object or array` });
    }
    return value;
  }

  // ---- page building blocks -------------------------------------------------------------

  function pageHead(title, sub, ...actions) {
    return h("div", { class: "page-head" },
      h("div", null, h("h1", { text: title }), sub ? h("p", { class: "sub" }, sub) : null),
      actions.length ? h("div", { class: "actions" }, actions) : null);
  }

  function card(title, sub, body, ...actions) {
    return h("section", { class: "card" },
      title ? h("div", { class: "card-head" }, h("div", null, h("h2", { text: title }), sub ? h("p", null, sub) : null),
        actions.length ? h("div", { class: "actions" }, actions) : null) : null,
      body);
  }

  function table(columns, rows, empty) {
    if (!rows.length) return h("div", { class: "empty" }, empty);
    return h("div", { class: "table-wrap" }, h("table", { class: "responsive" },
      h("thead", null, h("tr", null, columns.map((c) => h("th", { class: c.class, scope: "col" }, c.label)))),
      h("tbody", null, rows.map((row) => h("tr", null, columns.map((c) =>
        h("td", { "data-label": c.label, class: [c.class, c.primary ? "primary-cell" : ""].join(" ").trim() || null }, c.cell(row))))))));
  }

  function emptyState(title, text) {
    return [h("strong", { text: title }), text];
  }

  function button(label, opts = {}) {
    return h(opts.href ? "a" : "button", {
      type: opts.href ? null : opts.type || "button", href: opts.href, class: `btn ${opts.kind || ""} ${opts.small ? "small" : ""}`.trim(),
      onclick: opts.onclick, "aria-label": opts.aria,
    }, opts.icon ? icon(opts.icon) : null, label);
  }

  function loading() {
    return h("div", { class: "empty" }, "Loading…");
  }

  function failure(error) {
    return h("div", { class: "card-body" }, h("div", { class: "form-error", role: "alert" }, capitalize(error.message)));
  }

  // ---- the shell, navigation and routing ------------------------------------------------

  const NAV = [
    ["dashboard", "Dashboard"], ["scripts", "Scripts"], ["jobs", "Jobs"], ["schedules", "Schedules"],
    ["vfs", "VFS Library"], ["secrets", "Secrets"], ["apikeys", "API Keys"], ["settings", "Settings"],
  ];
  const PAGES = {};
  let routeGen = 0;
  let current = null;
  let ignoreHash = false;
  let lastHash = "";

  function buildShell() {
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
    document.getElementById("scrim").onclick = () => setNav(false);
    document.getElementById("nav").onclick = () => setNav(false);
    clear(document.getElementById("signout"), icon("signout"), "Sign out");
    document.getElementById("signout").onclick = signOut;
    document.querySelectorAll(".theme-button").forEach((b) => { b.onclick = cycleTheme; });
    paintTheme();
  }

  const THEMES = ["system", "light", "dark"];

  function currentTheme() {
    return document.documentElement.dataset.theme || "system";
  }

  function cycleTheme() {
    const next = THEMES[(THEMES.indexOf(currentTheme()) + 1) % THEMES.length];
    try {
      if (next === "system") localStorage.removeItem("aft-theme");
      else localStorage.setItem("aft-theme", next);
    } catch (e) { /* storage disabled: this page only */ }
    if (next === "system") delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = next;
    paintTheme();
  }

  function paintTheme() {
    const theme = currentTheme();
    const names = { system: "Theme: system", light: "Theme: light", dark: "Theme: dark" };
    document.querySelectorAll(".theme-button").forEach((b) => {
      const iconName = theme === "system" ? "system" : theme === "light" ? "sun" : "moon";
      if (b.classList.contains("icon-button")) clear(b, icon(iconName));
      else clear(b, icon(iconName), names[theme]);
      b.setAttribute("aria-label", `${names[theme]} (switch)`);
      b.title = `${names[theme]}; click to switch`;
    });
  }

  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, "") || "dashboard";
    const [path, query] = raw.split("?");
    return { parts: path.split("/").filter(Boolean).map(decodeURIComponent), query: new URLSearchParams(query || "") };
  }

  async function route() {
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
    const { parts, query } = parseHash();
    const name = PAGES[parts[0]] ? parts[0] : "dashboard";
    document.querySelectorAll("#nav .nav-link").forEach((a) => {
      if (a.dataset.page === name) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
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
      guard: null,
    };
    current = ctx;
    const main = document.getElementById("main");
    clear(main);
    const title = NAV.find(([p]) => p === name);
    document.title = `${title ? title[1] : "aft"} · aft`;
    try {
      await PAGES[name](main, parts.slice(1), query, ctx);
    } catch (error) {
      if (ctx.alive() && error.status !== 401) {
        main.append(card(null, null, failure(error)));
      }
    }
  }

  window.addEventListener("hashchange", () => {
    if (session.csrf) route();
  });
  window.addEventListener("beforeunload", (event) => {
    if (current && current.guard && current.guard()) event.preventDefault();
  });

  function go(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  // ---- sign in, setup, sign out ---------------------------------------------------------

  function authCard(title, lead, ...body) {
    const auth = document.getElementById("auth");
    document.getElementById("shell").hidden = true;
    auth.hidden = false;
    clear(auth, h("main", { class: "auth-card" },
      h("div", { class: "brand" }, h("span", { class: "logo", "aria-hidden": "true" }), h("span", null, "aft")),
      h("h1", { text: title }), h("p", { class: "lead" }, lead), body,
      h("p", { class: "auth-foot" }, `aft ${session.version || ""}`.trim())));
    const first = auth.querySelector("input");
    if (first) first.focus();
  }

  function showSetup(state) {
    const form = makeForm(
      state.setupCode ? field({ name: "code", label: "Setup code", autocomplete: "one-time-code", mono: true,
        hint: "You are not on the machine that runs aft. The code is in the file ui-setup-code in the instance home there." }) : null,
      field({ name: "username", label: "User name", autocomplete: "username", value: "admin", hint: "Letters, digits and . _ @ -" }),
      field({ name: "password", label: "Password", type: "password", autocomplete: "new-password", hint: "At least 10 characters. A few unrelated words make a good one." }),
      field({ name: "confirm", label: "Repeat the password", type: "password", autocomplete: "new-password" }),
      h("button", { type: "submit", class: "btn primary" }, "Create administrator and sign in"));
    onSubmit(form, async (f) => {
      const problems = {};
      if (state.setupCode && !f.code.value.trim()) problems.code = "Enter the setup code";
      if (!f.username.value.trim()) problems.username = "Enter a user name";
      if (f.password.value.length < 10) problems.password = "A password has at least 10 characters";
      else if (f.confirm.value !== f.password.value) problems.confirm = "The two passwords differ";
      check(problems);
      const answer = await api("POST", "/ui/setup", {
        username: f.username.value.trim(), password: f.password.value, confirm: f.confirm.value,
        code: state.setupCode ? f.code.value.trim() : undefined,
      });
      enter(answer);
      toast("Welcome! Your administrator account is ready.");
    });
    authCard("Set up aft", "Create the first administrator of this instance. You sign in to the console with this account.", form);
  }

  function showLogin(notice) {
    const form = makeForm(
      notice ? h("div", { class: "notice info" }, notice) : null,
      field({ name: "username", label: "User name", autocomplete: "username" }),
      field({ name: "password", label: "Password", type: "password", autocomplete: "current-password" }),
      h("button", { type: "submit", class: "btn primary" }, "Sign in"));
    onSubmit(form, async (f) => {
      const problems = {};
      if (!f.username.value.trim()) problems.username = "Enter your user name";
      if (!f.password.value) problems.password = "Enter your password";
      check(problems);
      try {
        enter(await api("POST", "/ui/login", { username: f.username.value.trim(), password: f.password.value }));
      } catch (error) {
        f.password.value = "";
        if (error.status === 429) error.field = null;  // about the address, not the field
        throw error;
      }
    });
    authCard("Sign in", "The administration console of aft.", form);
  }

  function enter(state) {
    session.csrf = state.csrf;
    session.username = state.username;
    session.version = state.version || session.version;
    document.getElementById("auth").hidden = true;
    clear(document.getElementById("auth"));
    document.getElementById("shell").hidden = false;
    document.getElementById("who").textContent = state.username;
    buildShell();
    route();
  }

  function sessionLost() {
    if (!session.csrf) return;
    session.csrf = null;
    if (current) current.stop();
    current = null;
    routeGen++;
    showLogin("Your session has ended. Sign in again to go on.");
  }

  async function signOut() {
    try {
      await api("POST", "/ui/logout");
    } catch (e) { /* signed out either way */ }
    session.csrf = null;
    if (current) current.stop();
    current = null;
    routeGen++;
    history.replaceState(null, "", location.pathname);  // the next one starts on the dashboard
    showLogin("You have signed out.");
  }

  async function boot() {
    let state;
    try {
      state = await api("GET", "/ui/session");
    } catch (error) {
      authCard("aft is unreachable", error.message);
      return;
    }
    session.version = state.version || "";
    if (state.state === "ready") enter(state);
    else if (state.state === "setup") showSetup(state);
    else showLogin();
  }

  // ---- Dashboard ------------------------------------------------------------------------

  PAGES.dashboard = async (main, parts, query, ctx) => {
    const tiles = h("div", { class: "tiles" });
    const running = h("div", null, loading());
    const failures = h("div", null, loading());
    const recent = h("div", null, loading());
    const start = h("div");
    main.append(pageHead("Dashboard", "Jobs of this instance at a glance.",
      button("Jobs", { href: "#/jobs" }), button("Run a script", { href: "#/scripts", kind: "primary", icon: "play" })),
    start, tiles,
    h("div", { class: "grid-2" },
      card("Running now", "Jobs in progress", running),
      card("Failures", "The last 24 hours", failures)),
    card("Recent jobs", null, recent, button("All jobs", { href: "#/jobs", small: true })));

    const count = (page) => `${page.jobs.length}${page.nextCursor ? "+" : ""}`;
    const tile = (label, value, note, cls, href) =>
      h("a", { class: `tile ${cls}`, href }, h("div", { class: "label" }, h("span", { class: "dot" }), label),
        h("div", { class: "value" }, value), h("div", { class: "note" }, note));

    async function load() {
      const day = Math.floor(Date.now() / 1000 - 86400);
      const [run, queued, failed, ok, latest, scripts] = await Promise.all([
        api("GET", "/v1/jobs?status=running&limit=100"),
        api("GET", "/v1/jobs?status=queued&limit=100"),
        api("GET", `/v1/jobs?status=failed&since=${day}&limit=500`),
        api("GET", `/v1/jobs?status=succeeded&since=${day}&limit=500`),
        api("GET", "/v1/jobs?limit=8"),
        api("GET", "/v1/scripts"),
      ]);
      if (!ctx.alive()) return;
      clear(start, scripts.scripts.length ? null : h("div", { class: "notice info spaced" },
        h("strong", null, "Getting started: "), "add a place to move files in the ", h("a", { href: "#/vfs" }, "VFS Library"),
        ", store a ", h("a", { href: "#/scripts/new" }, "script"), ", then run it from here, on a ",
        h("a", { href: "#/schedules" }, "schedule"), " or with an ", h("a", { href: "#/apikeys" }, "API key"), "."));
      clear(tiles,
        tile("Running", count(run), "now", "is-running", "#/jobs?status=running"),
        tile("Queued", count(queued), "waiting for a worker", "", "#/jobs?status=queued"),
        tile("Failed", count(failed), "last 24 hours", failed.jobs.length ? "is-failed" : "", "#/jobs?status=failed"),
        tile("Succeeded", count(ok), "last 24 hours", "is-ok", "#/jobs?status=succeeded"));
      clear(running, table([
        { label: "Script", primary: true, cell: (j) => h("a", { href: `#/jobs/${enc(j.jobId)}`, class: "cell-main" }, j.scriptName) },
        { label: "Started", cell: (j) => when(j.started) },
        { label: "Running for", cell: (j) => duration(j) },
        { label: "Trigger", cell: (j) => j.trigger },
      ], run.jobs.slice(0, 6), emptyState("Nothing is running", "Jobs appear here while they run.")));
      const lastFailures = failed.jobs.slice(0, 5);
      clear(failures, lastFailures.length ? h("ul", { class: "failure-list" }, lastFailures.map((j) =>
        h("li", null, h("a", { href: `#/jobs/${enc(j.jobId)}`, class: "cell-main" }, j.scriptName), " ",
          h("span", { class: "cell-sub" }, when(j.finished || j.created)),
          h("div", { class: "cell-sub clamp", title: j.error || "" }, j.error || "failed")))) :
        h("div", { class: "empty ok-empty" }, emptyState("No failures", "Every job of the last 24 hours ended well.")));
      clear(recent, jobTable(latest.jobs, emptyState("No jobs yet", "Run a script and it shows up here.")));
    }
    await load();
    ctx.every(4000, load);
  };

  function jobTable(jobs, empty) {
    return table([
      { label: "Script", primary: true, cell: (j) => h("div", null, h("a", { href: `#/jobs/${enc(j.jobId)}`, class: "cell-main" }, j.scriptName),
        h("div", { class: "cell-sub mono" }, j.jobId)) },
      { label: "Status", cell: (j) => badge(j.status) },
      { label: "Trigger", cell: (j) => j.trigger },
      { label: "Queued", cell: (j) => when(j.created) },
      { label: "Duration", cell: (j) => duration(j) },
    ], jobs, empty);
  }

  // ---- Scripts --------------------------------------------------------------------------

  const guessScript = guessBy([[/retries/i, "retries"], [/backoff/i, "retryBackoff"], [/source/i, "source"], [/group/i, "group"], [/name/i, "name"]]);

  PAGES.scripts = async (main, parts, query, ctx) => {
    if (parts[0] === "new") return scriptEditor(main, null, ctx);
    if (parts[0]) return scriptEditor(main, parts[0], ctx);
    const body = h("div", null, loading());
    main.append(pageHead("Scripts", "SyncJS scripts stored in this instance, to run now, on a schedule or through the API.",
      button("New script", { href: "#/scripts/new", kind: "primary", icon: "plus" })), card(null, null, body));
    const { scripts } = await api("GET", "/v1/scripts");
    if (!ctx.alive()) return;
    clear(body, table([
      { label: "Name", primary: true, cell: (s) => h("div", null, h("a", { href: `#/scripts/${enc(s.name)}`, class: "cell-main" }, s.name),
        h("div", { class: "cell-sub mono" }, s.group && s.group !== "default" ? `${s.id} · group ${s.group}` : s.id)) },
      { label: "Retries", cell: (s) => s.retries ? `${s.retries} × after ${s.retryBackoff} s` : "none" },
      { label: "Changed", cell: (s) => when(s.updated) },
      { label: "Actions", class: "actions-cell", cell: (s) => h("div", { class: "actions" },
        button("Run", { small: true, kind: "primary", icon: "play", aria: `Run ${s.name}`, onclick: () => runDialog(s.name) }),
        button("Edit", { small: true, href: `#/scripts/${enc(s.name)}` }),
        button("Clone", { small: true, aria: `Clone ${s.name}`, onclick: () => cloneDialog(s.name) }),
        button("Delete", { small: true, kind: "danger", aria: `Delete ${s.name}`, onclick: () => deleteScript(s.name, () => go("#/scripts")) })) },
    ], scripts, emptyState("No scripts yet", h("span", null, "Write one with ", h("a", { href: "#/scripts/new" }, "New script"), "."))));
  };

  async function deleteScript(name, after) {
    if (!(await confirmDialog({ title: `Delete the script “${name}”?`, body: "Its past jobs and their logs stay. Schedules that run it will fail." }))) return;
    try {
      await api("DELETE", `/v1/scripts/${enc(name)}`);
      toast(`Script “${name}” deleted`);
      after();
    } catch (error) {
      toast(error.message, "error");
    }
  }

  function runDialog(name) {
    return openDialog((close) => {
      const form = makeForm(
        field({ name: "params", label: "Params", type: "textarea", mono: true, optional: true, rows: 5, placeholder: '{"destination": "D:\\Archive\\2026"}',
          hint: "A JSON object of names and plain values, read by Param(name). Single backslashes are kept as typed." }),
        h("div", { class: "form-actions" }, h("span", { class: "spacer" }),
          h("button", { type: "button", class: "btn", onclick: () => close() }, "Cancel"),
          h("button", { type: "submit", class: "btn primary" }, icon("play"), "Run now")));
      onSubmit(form, async (f) => {
        const params = parseParams(f.params.value);
        const job = await api("POST", "/v1/jobs", { scriptName: name, params });
        close(job);
        toast(`Job ${job.jobId} queued`);
        go(`#/jobs/${enc(job.jobId)}`);
      }, guessBy([[/param/i, "params"]]));
      return h("div", { class: "dialog-body" }, h("h2", { text: `Run “${name}”` }), form);
    });
  }

  function cloneDialog(name) {
    return openDialog((close) => {
      const form = makeForm(
        field({ name: "name", label: "Name of the copy", value: `${name} copy` }),
        h("div", { class: "form-actions" }, h("span", { class: "spacer" }),
          h("button", { type: "button", class: "btn", onclick: () => close() }, "Cancel"),
          h("button", { type: "submit", class: "btn primary" }, "Clone")));
      onSubmit(form, async (f) => {
        if (!f.name.value.trim()) check({ name: "Enter a name for the copy" });
        const original = await api("GET", `/v1/scripts/${enc(name)}`);
        const copy = await api("POST", "/v1/scripts", {
          name: f.name.value.trim(), source: original.source, retries: original.retries, retryBackoff: original.retryBackoff,
        });
        close(copy);
        toast(`Cloned as “${copy.name}”`);
        go(`#/scripts/${enc(copy.name)}`);
      }, guessBy([[/./, "name"]]));
      return h("div", { class: "dialog-body" }, h("h2", { text: `Clone “${name}”` }), form);
    });
  }

  function codeEditor(name, value, label) {
    const gutter = h("pre", { class: "gutter", "aria-hidden": "true" });
    const area = h("textarea", { name, id: `f${++uid}-${name}`, spellcheck: "false", autocomplete: "off", autocapitalize: "off", wrap: "off", value, "aria-label": label });
    const status = h("div", { class: "code-status" });
    const numbers = () => {
      const count = area.value.split("\n").length;
      gutter.textContent = Array.from({ length: count }, (_, i) => i + 1).join("\n") + "\n";
      const before = area.value.slice(0, area.selectionStart).split("\n");
      clear(status, h("span", null, `Ln ${before.length}, Col ${before[before.length - 1].length + 1}`), h("span", null, `${count} line${count === 1 ? "" : "s"}`));
    };
    area.addEventListener("input", numbers);
    area.addEventListener("click", numbers);
    area.addEventListener("keyup", numbers);
    area.addEventListener("scroll", () => { gutter.scrollTop = area.scrollTop; });
    area.addEventListener("keydown", (event) => {
      if (event.key === "Tab" && !event.shiftKey && !event.ctrlKey && !event.metaKey) {
        event.preventDefault();
        area.setRangeText("  ", area.selectionStart, area.selectionEnd, "end");
        area.dispatchEvent(new Event("input"));
      }
    });
    numbers();
    const wrap = h("div", { class: "field", "data-field": name }, h("label", { htmlFor: area.id }, label), h("div", { class: "code" }, gutter, area), status);
    wrap.input = area;
    return wrap;
  }

  async function scriptEditor(main, name, ctx) {
    const [script, about] = await Promise.all([
      name ? api("GET", `/v1/scripts/${enc(name)}`) : {
        name: "", source: '// Param(name) reads a job parameter; GetVFS(name) opens a VFS Library entry.\nLog("Hello from " + ScriptName());\n', retries: 0, retryBackoff: 30, group: "default",
      },
      api("GET", "/ui/about").catch(() => null),
    ]);
    const cluster = Boolean(about && about.cluster);
    if (!ctx.alive()) return;
    let dirty = false;
    ctx.guard = () => (dirty ? "The script has unsaved changes. Leave without saving them?" : null);
    const form = makeForm(
      h("div", { class: "form-row" },
        field({ name: "name", label: "Name", value: script.name, hint: "Unique, any case. aft start -n NAME runs it." }),
        field({ name: "retries", label: "Retries", type: "number", value: script.retries, min: 0, max: 100, inputmode: "numeric", hint: "Runs again after a failure, 0 to 100 times." }),
        field({ name: "retryBackoff", label: "Backoff (seconds)", type: "number", value: script.retryBackoff, min: 0, max: 86400, hint: "Wait before the first retry; doubles each time." }),
        cluster ? field({ name: "group", label: "Worker group", value: script.group, hint: "Its jobs run on the worker nodes of this group (aft worker --group)." }) : null),
      codeEditor("source", script.source, "Source"),
      h("div", { class: "form-actions" },
        h("button", { type: "submit", class: "btn primary" }, name ? "Save" : "Create script"),
        name ? button("Run now", { icon: "play", onclick: () => runDialog(script.name) }) : null,
        h("span", { class: "spacer" }),
        name ? button("Delete", { kind: "danger", onclick: () => deleteScript(script.name, () => { dirty = false; go("#/scripts"); }) }) : null));
    form.addEventListener("input", () => { dirty = true; });
    form.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key === "s") {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    onSubmit(form, async (f) => {
      const problems = {};
      const retries = Number(f.retries.value);
      const backoff = Number(f.retryBackoff.value);
      if (!f.name.value.trim()) problems.name = "Enter a name";
      if (f.retries.value === "" || !Number.isInteger(retries) || retries < 0 || retries > 100) problems.retries = "Retries is a whole number from 0 to 100";
      if (f.retryBackoff.value === "" || !(backoff >= 0 && backoff <= 86400)) problems.retryBackoff = "Backoff is 0 to 86400 seconds";
      if (cluster && !/^[A-Za-z0-9_.-]{1,64}$/.test(f.group.value.trim())) problems.group = "A group is 1 to 64 letters, digits, '_', '.' or '-'";
      check(problems);
      const body = { name: f.name.value.trim(), source: f.source.value, retries, retryBackoff: backoff };
      if (cluster) body.group = f.group.value.trim();
      const saved = name ? await api("PUT", `/v1/scripts/${enc(name)}`, body) : await api("POST", "/v1/scripts", body);
      dirty = false;
      toast(name ? `Saved “${saved.name}”` : `Created “${saved.name}”`);
      if (saved.name !== name) go(`#/scripts/${enc(saved.name)}`);
    }, guessScript);
    main.append(
      h("a", { class: "crumb", href: "#/scripts" }, "← Scripts"),
      pageHead(name ? script.name : "New script", name ? `Id ${script.id} · changed ${fmtTime(script.updated)}` : "Write a SyncJS script; it runs in its own process with the VFS Library and secrets of this instance."),
      card(null, null, h("div", { class: "card-body" }, form)));
  }

  // ---- Jobs -----------------------------------------------------------------------------

  PAGES.jobs = async (main, parts, query, ctx) => {
    if (parts[0]) return jobPage(main, parts[0], ctx);
    const state = query.get("status") || "";
    const script = query.get("script") || "";
    const { scripts } = await api("GET", "/v1/scripts");
    if (!ctx.alive()) return;
    const names = scripts.map((s) => s.name);
    if (script && !names.some((n) => n.toLowerCase() === script.toLowerCase())) names.push(script);
    const status = field({ name: "status", label: "State", type: "select", value: state, options: [["", "Any state"], ...STATES.map((s) => [s, s])] });
    const which = field({ name: "script", label: "Script", type: "select", value: script, options: [["", "Any script"], ...names.map((n) => [n, n])] });
    const apply = () => {
      const q = new URLSearchParams();
      if (status.input.value) q.set("status", status.input.value);
      if (which.input.value) q.set("script", which.input.value);
      go(`#/jobs${q.toString() ? `?${q}` : ""}`);
    };
    status.input.onchange = apply;
    which.input.onchange = apply;
    const list = h("div", null, loading());
    const more = h("div", { class: "card-body", hidden: true });
    main.append(pageHead("Jobs", "Every run of a script, newest first."),
      card(null, null, [h("div", { class: "filters", role: "search" }, status, which), list, more]));
    let jobs = [];
    let cursor = null;
    const base = () => `/v1/jobs?limit=25${state ? `&status=${enc(state)}` : ""}${script ? `&script=${enc(script)}` : ""}`;
    const render = () => {
      clear(list, jobTable(jobs, emptyState("No jobs", state || script ? "No job matches these filters." : "Run a script and it shows up here.")));
      more.hidden = !cursor;
      clear(more, button("Load more", { onclick: loadMore }));
    };
    async function loadMore() {
      const page = await api("GET", `${base()}&cursor=${cursor}`);
      jobs = jobs.concat(page.jobs);
      cursor = page.nextCursor;
      render();
    }
    async function refresh() {
      const page = await api("GET", `${base()}&limit=${Math.max(25, jobs.length)}`);
      if (!ctx.alive()) return;
      jobs = page.jobs;
      cursor = page.nextCursor;
      render();
    }
    await refresh();
    ctx.every(3000, refresh);
  };

  async function jobPage(main, jobId, ctx) {
    let job = await api("GET", `/v1/jobs/${enc(jobId)}`);
    if (!ctx.alive()) return;
    const head = h("div");
    const meta = h("div", { class: "card-body" });
    const log = h("div", { class: "log", role: "log", "aria-label": "Job log", tabindex: "0" });
    const follow = h("input", { type: "checkbox", checked: true, id: "follow" });
    const liveNote = h("span", { class: "live" });
    let offset = 0;
    let logDone = false;  // a log page said the job had ended: every line is in

    const renderHead = () => {
      const live = !FINAL.has(job.status);
      clear(head, h("a", { class: "crumb", href: "#/jobs" }, "← Jobs"),
        pageHead(job.scriptName, null,
          badge(job.status),
          live ? button("Halt", { kind: "danger", icon: "stop", onclick: halt }) : null,
          live ? null : button("Run again", { icon: "play", onclick: () => runAgain() })));
      clear(liveNote, live ? [h("span", { class: "dot" }), "live"] : null);
      const items = [
        ["Job", h("span", { class: "mono" }, job.jobId)],
        ["State", job.status],
        ["Trigger", job.trigger],
        ["Attempt", `${job.attempt} of ${job.maxAttempts}`],
        ["Queued", fmtTime(job.created)],
        ["Started", fmtTime(job.started)],
        ["Finished", fmtTime(job.finished)],
        ["Duration", duration(job)],
        ["Exit code", job.exitCode ?? "—"],
      ];
      if (job.retryOf) items.push(["Retry of", h("a", { href: `#/jobs/${enc(job.retryOf)}`, class: "mono" }, job.retryOf)]);
      clear(meta, h("dl", { class: "meta" }, items.map(([k, v]) => h("div", null, h("dt", { text: k }), h("dd", null, v)))),
        Object.keys(job.params || {}).length ? h("div", { class: "job-error" }, h("h3", { text: "Params" }),
          h("pre", { class: "json" }, JSON.stringify(job.params, null, 2))) : null,
        job.error ? h("div", { class: "job-error form-error", role: "alert" },
          job.errorLine ? `Line ${job.errorLine}: ${job.error}` : job.error) : null);
    };

    const levelName = { debug: "DEBUG", info: "INFO", warn: "WARN", error: "ERROR" };
    const addLines = (lines) => {
      if (!lines.length) return;
      const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 48;
      const empty = log.querySelector(".log-empty");
      if (empty) empty.remove();
      for (const line of lines) {
        const d = new Date(line.time * 1000);
        log.append(h("div", { class: `log-line ${line.level}` },
          h("span", { class: "t", title: fmtTime(line.time) }, `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`),
          h("span", { class: "l" }, levelName[line.level] || line.level),
          h("span", { class: "x" }, line.text)));
      }
      if (follow.checked && (atBottom || offset === 0)) log.scrollTop = log.scrollHeight;
    };

    async function poll() {
      for (;;) {
        const page = await api("GET", `/v1/jobs/${enc(jobId)}/log?offset=${offset}`);
        if (!ctx.alive()) return;
        addLines(page.lines);
        offset = page.nextOffset;
        if (FINAL.has(page.status)) logDone = true;
        if (page.status !== job.status || (FINAL.has(page.status) && !job.finished)) {
          job = await api("GET", `/v1/jobs/${enc(jobId)}`);
          if (!ctx.alive()) return;
          renderHead();
        }
        if (page.lines.length < 1000) break;
      }
      const empty = log.querySelector(".log-empty");
      if (!log.querySelector(".log-line")) {
        clear(log, h("div", { class: "log-empty" }, logDone ? "This job wrote no log lines." : "Waiting for the first log line…"));
      } else if (empty) {
        empty.remove();
      }
    }

    async function halt() {
      if (!(await confirmDialog({
        title: "Halt this job?", confirm: "Halt job",
        body: "The script gets the halt signal. If it has not stopped when the grace period ends, its process is killed.",
      }))) return;
      try {
        const answer = await api("POST", `/v1/jobs/${enc(jobId)}/halt`);
        toast(answer.status === "halted" ? "Job halted" : "Halt requested");
        job = await api("GET", `/v1/jobs/${enc(jobId)}`);
        renderHead();
      } catch (error) {
        toast(error.message, "error");
      }
    }

    async function runAgain() {
      try {
        const body = job.scriptId ? { scriptId: job.scriptId, params: job.params } : { scriptName: job.scriptName, params: job.params };
        const again = await api("POST", "/v1/jobs", body);
        toast(`Job ${again.jobId} queued`);
        go(`#/jobs/${enc(again.jobId)}`);
      } catch (error) {
        toast(error.message, "error");
      }
    }

    renderHead();
    main.append(head, card(null, null, meta),
      h("section", { class: "card" },
        h("div", { class: "card-head" }, h("div", null, h("h2", { text: "Log" })),
          h("div", { class: "actions" }, liveNote, h("label", { class: "check", htmlFor: "follow" }, follow, h("span", null, "Follow")))),
        log));
    await poll();
    ctx.every(1000, async () => {
      if (!logDone) await poll();
    });
  }

  // ---- VFS Library ----------------------------------------------------------------------

  // The types, their fields and their targets' grammar belong to the service: GET /v1/vfs/types
  // describes each type, and the service writes, reads and checks every target. This page
  // knows no backend.
  let vfsTypes = null;

  async function loadVfsTypes() {
    if (!vfsTypes) vfsTypes = (await api("GET", "/v1/vfs/types")).types;
    return vfsTypes;
  }

  // The target the fields describe, and what is wrong with them: { target, errors }.
  function composeTarget(type, fields, payload) {
    return api("POST", `/v1/vfs/types/${enc(type)}/target`, payload ? { fields, payload } : { fields });
  }

  // The target, once the service finds nothing wrong; else FieldErrors, each on its field.
  async function validateVfs(type, fields, payload, problems) {
    const answer = await composeTarget(type, fields, payload);
    check({ ...problems, ...answer.errors });
    return answer.target;
  }

  const MONO_KINDS = new Set(["path", "prefix", "multiline", "json"]);

  // The form field for a field of a type's schema (its target's or its payload's).
  function vfsField(f, value, extra) {
    const opts = {
      name: f.name, label: f.label, hint: f.help, placeholder: f.placeholder || null, value,
      optional: !f.required && f.kind !== "flag", mono: MONO_KINDS.has(f.kind), ...extra,
    };
    if (f.kind === "choice") Object.assign(opts, { type: "select", options: f.choices });
    else if (f.kind === "flag") Object.assign(opts, { type: "checkbox", value: value === "true" });
    else if (f.kind === "multiline" || f.kind === "json") Object.assign(opts, { type: "textarea", rows: 4 });
    else if (f.secret) Object.assign(opts, { type: "password", autocomplete: "new-password" });
    else if (f.kind === "port" || f.kind === "number") opts.inputmode = "numeric";
    return field(opts);
  }

  // Which field a server message is about: first the fields the schema says it is about,
  // then the form's parts (a field missing from the form: the form's top).
  const guessVfsPart = guessBy([
    [/payload|credential|secret/i, "_payload"], [/name/i, "name"],
    [/type/i, "type"], [/target|path|looks like|port|host|connect/i, "_target"],
  ]);

  function guessVfs(spec, message) {
    const about = [...spec.target, ...spec.payload].find((f) => f.about && new RegExp(f.about, "i").test(message));
    return about ? about.name : guessVfsPart(message);
  }

  PAGES.vfs = async (main, parts, query, ctx) => {
    if (parts[0] === "new") return vfsEditor(main, null, ctx);
    if (parts[0]) return vfsEditor(main, parts[0], ctx);
    const body = h("div", null, loading());
    main.append(pageHead("VFS Library", "Named places to move files between. Credentials are encrypted at rest and never shown again.",
      button("Add VFS", { href: "#/vfs/new", kind: "primary", icon: "plus" })), card(null, null, body));
    const { vfs } = await api("GET", "/v1/vfs");
    if (!ctx.alive()) return;
    clear(body, table([
      { label: "Name", primary: true, cell: (p) => h("a", { href: `#/vfs/${enc(p.name)}`, class: "cell-main" }, p.name) },
      { label: "Type", cell: (p) => badge(p.type, "plain plain") },
      { label: "Target", cell: (p) => h("div", { class: "mono truncate", title: p.target }, p.target) },
      { label: "Changed", cell: (p) => when(p.updated) },
      { label: "Actions", class: "actions-cell", cell: (p) => h("div", { class: "actions" },
        button("Test", { small: true, aria: `Test ${p.name}`, onclick: (e) => testSaved(p.name, e.currentTarget) }),
        button("Edit", { small: true, href: `#/vfs/${enc(p.name)}` }),
        button("Delete", { small: true, kind: "danger", aria: `Delete ${p.name}`, onclick: () => deleteVfs(p.name) })) },
    ], vfs, emptyState("The library is empty", h("span", null, "Add a disk folder, an SFTP or FTP server, or a bucket with ", h("a", { href: "#/vfs/new" }, "Add VFS"), "."))));
  };

  async function testSaved(name, btn) {
    btn.disabled = true;
    btn.classList.add("busy");
    try {
      const answer = await api("POST", `/v1/vfs/${enc(name)}/test`);
      toast(`${name}: ${answer.message}`);
    } catch (error) {
      toast(`${name}: ${error.message}`, "error");
    } finally {
      btn.disabled = false;
      btn.classList.remove("busy");
    }
  }

  async function deleteVfs(name) {
    if (!(await confirmDialog({ title: `Delete “${name}”?`, body: "Scripts that open it with GetVFS will get null. Its stored credentials are erased." }))) return;
    try {
      await api("DELETE", `/v1/vfs/${enc(name)}`);
      toast(`“${name}” deleted`);
      go("#/vfs");
    } catch (error) {
      toast(error.message, "error");
    }
  }

  async function vfsEditor(main, name, ctx) {
    const [types, profile] = await Promise.all([loadVfsTypes(), name ? api("GET", `/v1/vfs/${enc(name)}`) : null]);
    if (!ctx.alive()) return;
    const specs = Object.fromEntries(types.map((t) => [t.type, t]));
    let type = profile ? profile.type : types[0].type;
    const spec = () => specs[type];
    const guess = (message) => guessVfs(spec(), message);
    const typeBox = h("div", { class: "field", "data-field": "type" },
      h("span", { class: "label", id: "vfs-type-label" }, "Type"),
      h("div", { class: "segmented", role: "radiogroup", "aria-labelledby": "vfs-type-label" }, types.map((t) =>
        h("label", null, h("input", { type: "radio", name: "type", value: t.type, checked: t.type === type, disabled: Boolean(profile) }), t.type))));
    const blurb = h("p", { class: "hint" });
    const where = h("div", { class: "form" });
    const secrets = h("div", { class: "form" });
    const secretsHead = h("div");
    const preview = h("div", { class: "preview", "aria-live": "polite" });
    const result = h("div", { "aria-live": "polite" });
    const nameField = field({ name: "name", label: "Name", value: profile ? profile.name : "", readOnly: Boolean(profile),
      hint: profile ? "A profile keeps its name." : "Scripts open it with GetVFS(\"name\")." });
    const unreadable = profile && !profile.fields ?
      h("p", { class: "hint" }, `The stored target ${profile.target} cannot be read any more: fill in the fields to replace it.`) : null;
    const form = makeForm(nameField, typeBox, blurb, where,
      h("div", { class: "field" }, h("span", { class: "label" }, "Target"), preview, unreadable, h("div", { "data-field": "_target" })),
      secretsHead, secrets, h("div", { "data-field": "_payload" }), result,
      h("div", { class: "form-actions" },
        h("button", { type: "submit", class: "btn primary" }, profile ? "Save" : "Add VFS"),
        h("button", { type: "button", class: "btn", onclick: () => testForm() }, "Test connection"),
        h("span", { class: "spacer" }),
        profile ? button("Delete", { kind: "danger", onclick: () => deleteVfs(profile.name) }) : null));

    const values = (fields) => {
      const v = {};
      for (const f of fields) {
        const el = form.elements.namedItem(f.name);
        v[f.name] = !el ? "" : el.type === "checkbox" ? String(el.checked) : el.value;
      }
      return v;
    };
    const targetFields = () => values(spec().target);
    const payloadOf = () => Object.fromEntries(Object.entries(values(spec().payload)).filter(([, value]) => value));

    let previewTimer = null;
    let previewSeq = 0;
    const updatePreview = () => {
      clearTimeout(previewTimer);
      previewTimer = setTimeout(async () => {
        const seq = ++previewSeq;
        let text = "—";
        try {
          text = (await composeTarget(type, targetFields())).target || "—";
        } catch (error) {
          // Said again, next to its field, when the profile is tested or saved.
        }
        if (seq === previewSeq && ctx.alive()) clear(preview, text);
      }, 150);
    };

    // Fields seldom needed go into "More options", open when one of them is set.
    const fieldRows = (fields, input, isSet) => {
      const basic = fields.filter((f) => !f.advanced);
      const more = fields.filter((f) => f.advanced);
      return [
        basic.length ? h("div", { class: "form-row" }, basic.map(input)) : null,
        more.length ? h("details", { open: more.some(isSet) },
          h("summary", null, "More options"), h("div", { class: "form-row" }, more.map(input))) : null,
      ];
    };

    const renderType = () => {
      const s = spec();
      blurb.textContent = s.summary;
      const seed = profile && type === profile.type && profile.fields ? profile.fields : {};
      const valueOf = (f) => seed[f.name] ?? f.initial;
      clear(where, fieldRows(s.target, (f) => {
        const helper = f.action === "hostkey" ? { addon: button("Fetch", { onclick: () => fetchHostKey(f.name) }) } : {};
        const wrap = vfsField(f, valueOf(f), helper);
        if (f.action) wrap.classList.add("wide");
        return wrap;
      }, (f) => valueOf(f) !== f.default));
      clear(secretsHead, s.payload.length ? h("div", null, h("h3", { text: "Credentials" }),
        h("p", { class: "hint" }, profile ? "Stored encrypted and never shown. Leave these empty to keep the stored ones; fill any to replace them all." :
          "Stored encrypted at rest, used only to connect, never shown again.")) : null);
      clear(secrets, fieldRows(s.payload, (f) => vfsField(f, "", profile ? { placeholder: "unchanged" } : {}), () => false));
      updatePreview();
    };

    async function fetchHostKey(pinField) {
      clearErrors(form);
      const host = spec().target.find((f) => f.part === "host");
      if (host && !targetFields()[host.name].trim()) {
        showError(form, new FieldErrors({ [host.name]: "Enter the host first" }));
        return;
      }
      let answer;
      try {
        const { target } = await composeTarget(type, targetFields());
        answer = await api("GET", `/v1/vfs/hostkey?url=${enc(target)}`);
      } catch (error) {
        showError(form, error, () => host && host.name);
        return;
      }
      const pin = await openDialog((close) => [
        h("div", { class: "dialog-body" }, h("h2", { text: "Pin this host key?" }),
          h("p", { class: "muted" }, `The server at ${answer.host}:${answer.port} presents this key:`),
          h("pre", { class: "json" }, answer.fingerprint),
          h("p", { class: "hint" }, "Compare it with the fingerprint the server's administrator gives you (for example, ssh-keygen -lf on the server's host key) before you pin it. A different key later stops every connection.")),
        h("div", { class: "form-actions" },
          h("button", { type: "button", class: "btn", onclick: () => close(false) }, "Cancel"),
          h("button", { type: "button", class: "btn primary", autofocus: true, onclick: () => close(true) }, "Pin this key")),
      ]);
      if (pin) {
        form.elements.namedItem(pinField).value = answer.fingerprint;
        updatePreview();
        form.dispatchEvent(new Event("input"));
      }
    }

    async function testForm() {
      clearErrors(form);
      clear(result);
      try {
        const payload = payloadOf();
        const fields = targetFields();
        const target = await validateVfs(type, fields, payload, {});
        const saved = profile && (target === profile.target || JSON.stringify(fields) === JSON.stringify(profile.fields));
        let answer;
        if (profile && !Object.keys(payload).length) {
          if (!saved) {
            throw new FieldErrors({ _payload: "Save the changes first, or fill in the credentials, to test them." });
          }
          answer = await api("POST", `/v1/vfs/${enc(profile.name)}/test`);
        } else {
          answer = await api("POST", "/v1/vfs/test", { type, target, payload });
        }
        clear(result, h("div", { class: "notice ok", role: "status" }, `Connection works: ${answer.message}.`));
      } catch (error) {
        showError(form, error, guess);
      }
    }

    typeBox.addEventListener("change", (event) => {
      if (event.target.name === "type") {
        type = event.target.value;
        clearErrors(form);
        clear(result);
        renderType();
      }
    });
    form.addEventListener("input", updatePreview);
    form.addEventListener("change", updatePreview);
    onSubmit(form, async (f) => {
      const problems = {};
      if (!profile && !f.name.value.trim()) problems.name = "Enter a name";
      if (!profile && f.name.value.includes("/")) problems.name = "A name cannot hold /";
      const payload = payloadOf();
      const target = await validateVfs(type, targetFields(), payload, problems);
      if (profile) {
        const body = { type, target };
        if (Object.keys(payload).length) body.payload = payload;
        await api("PUT", `/v1/vfs/${enc(profile.name)}`, body);
        toast(`Saved “${profile.name}”`);
        go(`#/vfs`);
      } else {
        const made = await api("POST", "/v1/vfs", { name: f.name.value.trim(), type, target, payload });
        toast(`Added “${made.name}”`);
        go("#/vfs");
      }
    }, guess);
    renderType();
    main.append(h("a", { class: "crumb", href: "#/vfs" }, "← VFS Library"),
      pageHead(profile ? profile.name : "Add a VFS", profile ? `${profile.type} · changed ${fmtTime(profile.updated)}` : "Choose a type, fill in where it is, and test the connection before you save."),
      card(null, null, h("div", { class: "card-body" }, form)));
  }

  // ---- Secrets --------------------------------------------------------------------------

  PAGES.secrets = async (main, parts, query, ctx) => {
    const body = h("div", null, loading());
    const heading = h("h2", { text: "Add a secret" });
    const nameField = field({ name: "name", label: "Name", hint: "Scripts read it with GetSecret(\"name\"); names are case-sensitive." });
    const valueField = field({ name: "value", label: "Value", type: "password", autocomplete: "new-password", hint: "Write-only: stored encrypted, never shown again, masked in job logs." });
    const form = makeForm(h("div", { class: "form-row" }, nameField, valueField),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, "Save secret"),
        h("button", { type: "reset", class: "btn ghost", onclick: () => { heading.textContent = "Add a secret"; clearErrors(form); } }, "Clear")));
    onSubmit(form, async (f) => {
      const problems = {};
      const name = f.name.value.trim();
      if (!name) problems.name = "Enter a name";
      else if (name.includes("/")) problems.name = "A secret name cannot hold /";
      if (!f.value.value) problems.value = "Enter the value";
      check(problems);
      await api("PUT", `/v1/secrets/${enc(name)}`, { value: f.value.value });
      form.reset();
      heading.textContent = "Add a secret";
      toast(`Secret “${name}” saved`);
      await load();
    }, guessBy([[/value/i, "value"], [/name/i, "name"]]));
    main.append(pageHead("Secrets", "Passwords and tokens for scripts. Only names are listed: values are write-only."),
      h("section", { class: "card" }, h("div", { class: "card-head" }, heading), h("div", { class: "card-body" }, form)),
      card("Stored secrets", null, body));

    async function load() {
      const { secrets } = await api("GET", "/v1/secrets");
      if (!ctx.alive()) return;
      clear(body, table([
        { label: "Name", primary: true, cell: (n) => h("span", { class: "cell-main mono" }, n) },
        { label: "Value", cell: () => h("span", { class: "faint", "aria-label": "hidden" }, "hidden") },
        { label: "Actions", class: "actions-cell", cell: (n) => h("div", { class: "actions" },
          button("Replace value", { small: true, aria: `Replace the value of ${n}`, onclick: () => {
            form.elements.name.value = n;
            heading.textContent = `Replace the value of “${n}”`;
            form.elements.value.value = "";
            form.elements.value.focus();
          } }),
          button("Delete", { small: true, kind: "danger", aria: `Delete ${n}`, onclick: async () => {
            if (!(await confirmDialog({ title: `Delete the secret “${n}”?`, body: "Scripts that read it get an empty string from then on." }))) return;
            try {
              await api("DELETE", `/v1/secrets/${enc(n)}`);
              toast(`Secret “${n}” deleted`);
              await load();
            } catch (error) {
              toast(error.message, "error");
            }
          } })) },
      ], secrets, emptyState("No secrets yet", "Add one above; scripts read it with GetSecret.")));
    }
    await load();
  };

  // ---- API keys -------------------------------------------------------------------------

  PAGES.apikeys = async (main, parts, query, ctx) => {
    const once = h("div");
    const body = h("div", null, loading());
    const scope = h("div", { class: "field", "data-field": "scope" }, h("span", { class: "label", id: "scope-label" }, "Scope"),
      h("div", { class: "segmented", role: "radiogroup", "aria-labelledby": "scope-label" },
        h("label", null, h("input", { type: "radio", name: "scope", value: "run", checked: true }), "run: start jobs, read their own"),
        h("label", null, h("input", { type: "radio", name: "scope", value: "admin" }), "admin: everything")));
    const form = makeForm(
      h("div", { class: "form-row" },
        field({ name: "name", label: "Name", placeholder: "ci-server", hint: "Who or what uses it." }),
        field({ name: "allow", label: "Allowed addresses", value: "127.0.0.1, ::1", mono: true,
          hint: "IP addresses or CIDR ranges (IPv4 or IPv6), separated by commas. Requests from elsewhere are refused." })),
      scope,
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, icon("plus"), "Create key")));
    onSubmit(form, async (f) => {
      const problems = {};
      const allow = f.allow.value.split(/[\s,]+/).filter(Boolean);
      if (!f.name.value.trim()) problems.name = "Enter a name";
      if (!allow.length) problems.allow = "Give at least one address or CIDR range";
      const bad = allow.find((a) => !/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(a) || !/[.:]/.test(a));
      if (bad) problems.allow = `“${bad}” is not an IP address or CIDR range`;
      check(problems);
      const made = await api("POST", "/v1/apikeys", { name: f.name.value.trim(), allow, scope: f.scope.value });
      form.reset();
      showOnce(made);
      await load();
    }, guessBy([[/allow|address|CIDR/i, "allow"], [/scope/i, "scope"], [/name/i, "name"]]));

    function showOnce(made) {
      const keyInput = h("input", { type: "text", readOnly: true, value: made.key, id: "new-key", class: "mono", "aria-describedby": "new-key-hint" });
      const copy = async () => {
        try {
          await navigator.clipboard.writeText(made.key);
        } catch (e) {
          keyInput.select();
          document.execCommand("copy");
        }
        toast("Key copied to the clipboard");
      };
      clear(once, h("section", { class: "secret-once", role: "status" },
        h("h2", { text: `Your new key “${made.name}”` }),
        h("p", { id: "new-key-hint" }, "Copy it now: it is shown this once. aft keeps only a hash of it."),
        h("div", { class: "field" }, h("label", { htmlFor: "new-key" }, "New API key"),
          h("div", { class: "input-group" }, keyInput, button("Copy", { icon: "copy", kind: "primary", onclick: copy }))),
        h("p", { class: "hint" }, `Use it with: aft start -n SCRIPT -a KEY --host ${location.host}`),
        h("div", { class: "form-actions" }, button("Done, I stored it", { onclick: () => clear(once) }))));
      keyInput.focus();
      keyInput.select();
    }

    main.append(pageHead("API Keys", "Keys for the REST API and aft start. Each works only from its allowed addresses."),
      once, card("Create a key", null, h("div", { class: "card-body" }, form)), card("Keys", null, body));
    ctx.guard = () => (once.firstChild ? "The new key is still on screen and will not be shown again. Leave anyway?" : null);

    async function load() {
      const { apiKeys } = await api("GET", "/v1/apikeys");
      if (!ctx.alive()) return;
      apiKeys.sort((a, b) => (a.revoked - b.revoked) || (b.created - a.created));
      clear(body, table([
        { label: "Name", primary: true, cell: (k) => h("div", null, h("span", { class: "cell-main" }, k.name), h("div", { class: "cell-sub mono" }, k.id)) },
        { label: "Scope", cell: (k) => k.revoked ? badge("revoked") : badge(k.scope) },
        { label: "Allowed from", cell: (k) => h("div", null, k.allow.map((a) => h("span", { class: "chip" }, a))) },
        { label: "Created", cell: (k) => when(k.created) },
        { label: "Last used", cell: (k) => when(k.lastUsed) },
        { label: "Actions", class: "actions-cell", cell: (k) => k.revoked ? h("span", { class: "faint" }, "—") :
          button("Revoke", { small: true, kind: "danger", aria: `Revoke ${k.name}`, onclick: async () => {
            if (!(await confirmDialog({ title: `Revoke “${k.name}”?`, body: "Requests with this key are refused from now on. This cannot be undone.", confirm: "Revoke" }))) return;
            try {
              await api("DELETE", `/v1/apikeys/${enc(k.id)}`);
              toast(`Key “${k.name}” revoked`);
              await load();
            } catch (error) {
              toast(error.message, "error");
            }
          } }) },
      ], apiKeys, emptyState("No keys yet", "Create one above to call the REST API or use aft start.")));
    }
    await load();
  };

  // ---- Schedules ------------------------------------------------------------------------

  const OVERLAP = [["skip", "Skip the run if the last one still runs"], ["queue", "Queue it after the last one"], ["allow", "Run in parallel"]];

  PAGES.schedules = async (main, parts, query, ctx) => {
    const body = h("div", null, loading());
    const formCard = h("div");
    main.append(pageHead("Schedules", "Run scripts at set times, like cron.",
      button("New schedule", { kind: "primary", icon: "plus", onclick: () => edit(null) })), formCard, card(null, null, body));
    let scripts = [];
    try {
      scripts = (await api("GET", "/v1/scripts")).scripts;
    } catch (e) { scripts = []; }

    function edit(item) {
      const zone = (Intl.DateTimeFormat().resolvedOptions().timeZone) || "UTC";
      const s = item || { name: "", cron: "0 2 * * *", timezone: zone, script: scripts[0] ? scripts[0].name : "", params: {}, enabled: true, overlap: "skip", catchUp: false };
      const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
      const list = h("datalist", { id: "zones" }, zones.map((z) => h("option", { value: z })));
      const tz = field({ name: "timezone", label: "Time zone", value: s.timezone, hint: "An IANA zone, like Europe/Berlin." });
      tz.input.setAttribute("list", "zones");
      const form = makeForm(
        h("div", { class: "form-row" },
          field({ name: "name", label: "Name", value: s.name }),
          field({ name: "script", label: "Script", type: "select", value: s.script, options: scripts.map((x) => x.name) })),
        h("div", { class: "form-row" },
          field({ name: "cron", label: "When (cron)", value: s.cron, mono: true, hint: "minute hour day-of-month month day-of-week; 0 2 * * * is 02:00 every day." }),
          tz, list),
        field({ name: "params", label: "Params", type: "textarea", mono: true, optional: true, rows: 3, value: Object.keys(s.params || {}).length ? JSON.stringify(s.params, null, 2) : "" }),
        h("div", { class: "form-row" },
          field({ name: "overlap", label: "If the last run has not ended", type: "select", value: s.overlap, options: OVERLAP }),
          h("div", { class: "form" },
            field({ name: "enabled", label: "Enabled", type: "checkbox", value: s.enabled }),
            field({ name: "catchUp", label: "Catch up", type: "checkbox", value: s.catchUp, hint: "Run once after a time missed while aft was stopped." }))),
        h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, item ? "Save schedule" : "Create schedule"),
          button("Cancel", { kind: "ghost", onclick: () => clear(formCard) })));
      onSubmit(form, async (f) => {
        const problems = {};
        if (!f.name.value.trim()) problems.name = "Enter a name";
        if (!f.script.value) problems.script = "Choose a script (store one on the Scripts page first)";
        if (f.cron.value.trim().split(/\s+/).length < 5) problems.cron = "A cron line has five fields: minute hour day month weekday";
        if (!f.timezone.value.trim()) problems.timezone = "Enter a time zone";
        check(problems);
        const payload = {
          name: f.name.value.trim(), cron: f.cron.value.trim(), timezone: f.timezone.value.trim(), script: f.script.value,
          params: parseParams(f.params.value), enabled: f.enabled.checked, overlap: f.overlap.value, catchUp: f.catchUp.checked,
        };
        if (item) await api("PUT", `/v1/schedules/${enc(item.id)}`, payload);
        else await api("POST", "/v1/schedules", payload);
        clear(formCard);
        toast(item ? "Schedule saved" : "Schedule created");
        await load();
      }, guessBy([[/cron|minute|hour|expression/i, "cron"], [/zone/i, "timezone"], [/script/i, "script"], [/param/i, "params"], [/overlap/i, "overlap"], [/name/i, "name"]]));
      clear(formCard, card(item ? `Edit “${item.name}”` : "New schedule", null, h("div", { class: "card-body" }, form)));
      form.elements.name.focus();
    }

    async function load() {
      const answer = await api("GET", "/v1/schedules");
      if (!ctx.alive()) return;
      const items = answer.schedules;
      clear(body, table([
        { label: "Name", primary: true, cell: (s) => h("span", { class: "cell-main" }, s.name) },
        { label: "Script", cell: (s) => h("a", { href: `#/scripts/${enc(s.script)}` }, s.script) },
        { label: "When", cell: (s) => h("span", null, h("code", null, s.cron), " ", h("span", { class: "cell-sub" }, s.timezone)) },
        { label: "Next run", cell: (s) => s.nextRun ? fmtTime(s.nextRun) : "—" },
        { label: "State", cell: (s) => s.enabled ? badge("enabled", "on") : badge("paused", "queued") },
        { label: "Actions", class: "actions-cell", cell: (s) => h("div", { class: "actions" },
          button("Edit", { small: true, aria: `Edit ${s.name}`, onclick: () => edit(s) }),
          button(s.enabled ? "Pause" : "Enable", { small: true, onclick: async () => {
            try {
              await api("PUT", `/v1/schedules/${enc(s.id)}`, { ...pick(s), enabled: !s.enabled });
              await load();
            } catch (error) { toast(error.message, "error"); }
          } }),
          button("Delete", { small: true, kind: "danger", aria: `Delete ${s.name}`, onclick: async () => {
            if (!(await confirmDialog({ title: `Delete the schedule “${s.name}”?`, body: "Jobs it started stay; it starts no more." }))) return;
            try {
              await api("DELETE", `/v1/schedules/${enc(s.id)}`);
              toast("Schedule deleted");
              await load();
            } catch (error) { toast(error.message, "error"); }
          } })) },
      ], items, emptyState("No schedules", "Create one to run a script at set times.")));
    }
    const pick = (s) => ({ name: s.name, cron: s.cron, timezone: s.timezone, script: s.script, params: s.params || {}, enabled: s.enabled, overlap: s.overlap, catchUp: s.catchUp });
    await load();
  };

  // ---- Settings -------------------------------------------------------------------------

  const SETTING_TEXT = {
    allow_cli_run: ["Allow CLI Run", "Let aft run -f FILE execute script files on this machine."],
    allow_exec: ["Allow Exec", "Let scripts start local programs with Exec()."],
    allow_file_path: ["Allow file paths in the API", "Let POST /v1/jobs run a script file from the server's disk."],
    concurrency: ["Concurrent jobs", "How many jobs run at once (1 to 64)."],
    halt_grace_seconds: ["Halt grace period (seconds)", "Time a halted job gets to stop before its process is killed."],
    job_memory_mb: ["Memory per job (MB)", "Memory limit of each job's process; 0 for none."],
    bind: ["Bind address", "The address aft serve listens on: 127.0.0.1 for this machine only, 0.0.0.0 for every interface."],
    port: ["Port", "The port aft serve listens on (1 to 65535)."],
    tls: ["HTTPS", "Serve HTTPS with the instance certificate. Turn off only behind a proxy that does TLS."],
    smtp_host: ["SMTP server", "Host name of the server SendMail() uses. Empty: mail is off."],
    smtp_port: ["SMTP port", "Usually 587 for STARTTLS, 465 for TLS."],
    smtp_tls: ["Encryption", "STARTTLS upgrades a plain connection (port 587); TLS encrypts from the start (port 465)."],
    smtp_user: ["SMTP user", "The login name. Empty: send without logging in."],
    smtp_password_secret: ["Password secret", "The name of the secret (on the Secrets page) that holds the SMTP password."],
    smtp_from: ["Default sender", "The From address when a script gives none."],
    smtp_cafile: ["CA file", "A PEM file of certificates to trust, for a server with a private or self-signed certificate. Empty: the system's."],
  };
  const SETTING_CHOICES = { smtp_tls: [["starttls", "STARTTLS"], ["tls", "TLS"], ["none", "None (plain text)"]] };
  const SMTP_ORDER = ["smtp_host", "smtp_port", "smtp_tls", "smtp_user", "smtp_password_secret", "smtp_from", "smtp_cafile"];
  const GROUPS = [
    ["Running scripts", "Who may run what, and how much at once.", ["allow_cli_run", "allow_exec", "allow_file_path", "concurrency", "halt_grace_seconds", "job_memory_mb"]],
    ["Network and TLS", "Changes here take effect when aft serve restarts.", ["bind", "port", "tls"]],
  ];
  const SECRETISH = /pass|secret|token|key$/i;
  const SECRET_NAME = /_secret$/; // holds the name of a secret, not the secret itself

  function label(key) {
    return SETTING_TEXT[key] ? SETTING_TEXT[key][0] : key.replace(/^smtp_/, "SMTP ").replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
  }

  PAGES.settings = async (main, parts, query, ctx) => {
    const [{ settings }, about] = await Promise.all([api("GET", "/v1/settings"), api("GET", "/ui/about").catch(() => null)]);
    if (!ctx.alive()) return;
    main.append(pageHead("Settings", "Instance settings. The same ones are in aft settings on the command line."));
    const keys = Object.keys(settings);
    const taken = new Set(GROUPS.flatMap((g) => g[2]));
    const rank = (k) => (SMTP_ORDER.indexOf(k) + 1) || SMTP_ORDER.length + 1;
    const smtp = keys.filter((k) => k.startsWith("smtp_")).sort((a, b) => rank(a) - rank(b));
    const other = keys.filter((k) => !taken.has(k) && !k.startsWith("smtp_"));
    const groups = [...GROUPS, ["Email (SMTP)", "How aft sends mail.", smtp], ...(other.length ? [["Other", null, other]] : [])];
    const grid = h("div", { class: "grid-2" });
    for (const [title, sub, groupKeys] of groups) {
      const present = groupKeys.filter((k) => k in settings);
      let content;
      if (!present.length) {
        content = h("div", { class: "card-body" }, h("p", { class: "muted" },
          title.startsWith("Email") ? "This version of aft has no SMTP settings yet; they appear here once it has them." : "Nothing to set."));
      } else {
        content = h("div", { class: "card-body" }, settingsForm(present, settings, title.startsWith("Network") ? about : null));
      }
      grid.append(card(title, sub, content));
    }
    main.append(grid, await accountsCard(ctx));
  };

  function settingsForm(keys, settings, about) {
    const fields = keys.map((key) => {
      const value = settings[key];
      const [text, hint] = SETTING_TEXT[key] || [label(key), null];
      if (typeof value === "boolean") return field({ name: key, label: text, type: "checkbox", value, hint });
      if (typeof value === "number") return field({ name: key, label: text, type: "number", value, hint, inputmode: "numeric" });
      if (SETTING_CHOICES[key]) return field({ name: key, label: text, type: "select", value, hint, options: SETTING_CHOICES[key] });
      if (SECRET_NAME.test(key)) return field({ name: key, label: text, value, hint, mono: true, placeholder: "secret name" });
      if (SECRETISH.test(key)) return field({ name: key, label: text, type: "password", value: "", placeholder: "unchanged", hint: hint || "Write-only.", autocomplete: "new-password" });
      return field({ name: key, label: text, value, hint });
    });
    const form = makeForm(fields,
      about && about.certificateSha256 ? h("div", { class: "notice" }, h("strong", null, "Certificate SHA-256: "),
        h("span", { class: "mono fingerprint" }, about.certificateSha256), h("br"),
        "To use your own certificate, replace ", h("code", null, about.certificateFiles[0]), " and ", h("code", null, about.certificateFiles[1]),
        " in the instance home and restart aft serve.") : null,
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn primary" }, "Save")));
    onSubmit(form, async (f) => {
      const changed = [];
      for (const key of keys) {
        const el = f[key];
        const now = el.type === "checkbox" ? el.checked : el.type === "number" ? (el.value === "" ? null : Number(el.value)) : el.value;
        if (el.type === "password" && !now) continue;
        if (now === null) check({ [key]: "Enter a number" });
        if (now !== settings[key]) changed.push([key, now]);
      }
      if (!changed.length) {
        toast("Nothing changed");
        return;
      }
      const problems = {};
      for (const [key, value] of changed) {
        try {
          const answer = await api("PUT", `/v1/settings/${enc(key)}`, { value });
          settings[key] = answer.value;
        } catch (error) {
          problems[key] = capitalize(error.message);
        }
      }
      check(problems);
      toast(changed.length === 1 ? `${label(changed[0][0])} saved` : `${changed.length} settings saved`);
    });
    return form;
  }

  async function accountsCard(ctx) {
    const body = h("div");
    const addForm = makeForm(h("div", { class: "form-row" },
      field({ name: "username", label: "User name", autocomplete: "off" }),
      field({ name: "password", label: "Password", type: "password", autocomplete: "new-password", hint: "At least 10 characters." }),
      field({ name: "confirm", label: "Repeat the password", type: "password", autocomplete: "new-password" })),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn" }, icon("plus"), "Add administrator")));
    onSubmit(addForm, async (f) => {
      const problems = {};
      if (!f.username.value.trim()) problems.username = "Enter a user name";
      if (f.password.value.length < 10) problems.password = "A password has at least 10 characters";
      else if (f.confirm.value !== f.password.value) problems.confirm = "The two passwords differ";
      check(problems);
      await api("POST", "/ui/accounts", { username: f.username.value.trim(), password: f.password.value, confirm: f.confirm.value });
      addForm.reset();
      toast("Administrator added");
      await load();
    });
    const pwForm = makeForm(h("div", { class: "form-row" },
      field({ name: "current", label: "Current password", type: "password", autocomplete: "current-password" }),
      field({ name: "password", label: "New password", type: "password", autocomplete: "new-password", hint: "At least 10 characters." }),
      field({ name: "confirm", label: "Repeat the new password", type: "password", autocomplete: "new-password" })),
      h("div", { class: "form-actions" }, h("button", { type: "submit", class: "btn" }, "Change my password")));
    onSubmit(pwForm, async (f) => {
      const problems = {};
      if (!f.current.value) problems.current = "Enter your current password";
      if (f.password.value.length < 10) problems.password = "A password has at least 10 characters";
      else if (f.confirm.value !== f.password.value) problems.confirm = "The two passwords differ";
      check(problems);
      const answer = await api("PUT", "/ui/password", { current: f.current.value, password: f.password.value, confirm: f.confirm.value });
      session.csrf = answer.csrf;
      pwForm.reset();
      toast("Password changed; other sessions were signed out");
    });

    async function load() {
      const { accounts } = await api("GET", "/ui/accounts");
      if (!ctx.alive()) return;
      clear(body, table([
        { label: "User", primary: true, cell: (a) => h("span", { class: "cell-main" }, a.username, a.username.toLowerCase() === (session.username || "").toLowerCase() ? h("span", { class: "faint" }, " (you)") : null) },
        { label: "Last sign-in", cell: (a) => when(a.lastLogin) },
        { label: "Created", cell: (a) => when(a.created) },
        { label: "Actions", class: "actions-cell", cell: (a) => a.username.toLowerCase() === (session.username || "").toLowerCase() ? h("span", { class: "faint" }, "—") :
          button("Remove", { small: true, kind: "danger", aria: `Remove ${a.username}`, onclick: async () => {
            if (!(await confirmDialog({ title: `Remove ${a.username}?`, body: "They can no longer sign in; their sessions end now.", confirm: "Remove" }))) return;
            try {
              await api("DELETE", `/ui/accounts/${enc(a.username)}`);
              toast(`${a.username} removed`);
              await load();
            } catch (error) { toast(error.message, "error"); }
          } }) },
      ], accounts, "No administrators"));
    }
    await load();
    return card("Administrators", "Who can sign in to this console. aft reinit removes them all and brings the setup wizard back.",
      [body, h("div", { class: "card-body" }, h("h3", { text: "Add an administrator" }), addForm),
        h("div", { class: "card-body" }, h("h3", { text: "Your password" }), pwForm)]);
  }

  // ---- start ----------------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", boot);
})();
