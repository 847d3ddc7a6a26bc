// The pages' building blocks: heading, card, table, button, badge, time, loading and failure.
import { can, whyNot } from "./api.js";
import { h } from "./dom.js";
import { ago, capitalize, fmtTime } from "./format.js";
import { icon } from "./icons.js";

export function pageHead(title, sub, ...actions) {
  return h("div", { class: "page-head" },
    h("div", null, h("h1", { text: title, tabindex: "-1" }), sub ? h("p", { class: "sub" }, sub) : null),
    actions.length ? h("div", { class: "actions" }, actions) : null);
}

export function card(title, sub, body, ...actions) {
  return h("section", { class: "card" },
    title ? h("div", { class: "card-head" }, h("div", null, h("h2", { text: title }), sub ? h("p", null, sub) : null),
      actions.length ? h("div", { class: "actions" }, actions) : null) : null,
    body);
}

// Rows as a table, one column per { label, cell(row), class?, primary? }; empty when no rows.
export function table(columns, rows, empty) {
  if (!rows.length) return h("div", { class: "empty" }, empty);
  return h("div", { class: "table-wrap" }, h("table", { class: "responsive" },
    h("thead", null, h("tr", null, columns.map((c) => h("th", { class: c.class, scope: "col" }, c.label)))),
    h("tbody", null, rows.map((row) => h("tr", null, columns.map((c) =>
      h("td", { "data-label": c.label, class: [c.class, c.primary ? "primary-cell" : ""].join(" ").trim() || null }, c.cell(row))))))));
}

export function emptyState(title, text) {
  return [h("strong", { text: title }), text];
}

// A button, or a link that looks like one when opts.href is given; with opts.need (see can())
// that the signed-in role does not meet, a disabled button whose title says why.
export function button(label, opts = {}) {
  if (opts.need && !can(opts.need)) {
    return h("button", { type: "button", class: `btn ${opts.kind || ""} ${opts.small ? "small" : ""}`.trim(),
      disabled: true, title: whyNot(opts.need), "aria-label": opts.aria }, opts.icon ? icon(opts.icon) : null, label);
  }
  return h(opts.href ? "a" : "button", {
    type: opts.href ? null : opts.type || "button", href: opts.href, class: `btn ${opts.kind || ""} ${opts.small ? "small" : ""}`.trim(),
    onclick: opts.onclick, "aria-label": opts.aria, "data-need": opts.need,
  }, opts.icon ? icon(opts.icon) : null, label);
}

export function badge(text, kind) {
  return h("span", { class: `badge s-${kind || text}` }, text);
}

// A Unix time shown as how long ago, with the exact time on hover.
export function when(ts) {
  return h("time", { title: fmtTime(ts), datetime: ts ? new Date(ts * 1000).toISOString() : null, class: "nowrap" }, ago(ts));
}

export function loading() {
  return h("div", { class: "empty" }, "Loading…");
}

export function failure(error) {
  return h("div", { class: "card-body" }, h("div", { class: "form-error", role: "alert" }, capitalize(error.message)));
}
