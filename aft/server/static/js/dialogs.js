// Short notices (toasts) and modal dialogs, the confirmation dialog among them.
import { clear, h } from "./dom.js";

export function toast(message, kind) {
  const el = h("div", { class: `toast ${kind || ""}` }, message);
  document.getElementById("toasts").append(el);
  setTimeout(() => el.remove(), kind === "error" ? 6000 : 3500);
}

// Shows what build(close) makes in the page's dialog; resolves to the value given to close
// (undefined when dismissed).
export function openDialog(build) {
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

// Resolves to true when the person confirms.
export function confirmDialog({ title, body, confirm = "Delete", danger = true }) {
  return openDialog((close) => [
    h("div", { class: "dialog-body" }, h("h2", { text: title }), h("p", { class: "muted" }, body)),
    h("div", { class: "form-actions" },
      h("button", { type: "button", class: "btn", onclick: () => close(false) }, "Cancel"),
      h("button", { type: "button", class: `btn ${danger ? "danger solid" : "primary"}`, autofocus: true, onclick: () => close(true) }, confirm)),
  ]).then(Boolean);
}
