// Forms whose fields show their own errors: field(), makeForm(), onSubmit() and showError().
import { can, whyNot } from "./api.js";
import { h } from "./dom.js";
import { ApiError, errorPlaces, FieldErrors } from "./errors.js";

let uid = 0;

// A unique element id for a control named name.
export function nextId(name) {
  return `f${++uid}-${name}`;
}

// A labelled control with its hint, as <div class="field" data-field=NAME>; .input is the control.
export function field(opts) {
  const id = nextId(opts.name);
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

// A form with its top error line (for errors about no one field).
export function makeForm(...children) {
  return h("form", { class: "form", novalidate: true }, h("div", { class: "form-error", role: "alert", hidden: true }), children);
}

// Turns `form` read-only when the signed-in role does not meet `need`: every control is
// disabled (but a button that declares a need of its own the role meets), and a line (and
// the controls' titles) says why. Returns the form.
export function lockUnless(form, need) {
  if (can(need)) return form;
  form.querySelectorAll("input, select, textarea, button:not([data-need])").forEach((el) => {
    el.disabled = true;
    el.title = whyNot(need);
  });
  form.prepend(h("p", { class: "notice read-only" }, `Read only: ${whyNot(need)}`));
  return form;
}

export function clearErrors(form) {
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

// Shows message under the field name (on the form's top line when there is no such field);
// returns the element to focus.
export function setFieldError(form, name, message) {
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

// Shows each message of error next to its field (see errorPlaces) and focuses the first.
export function showError(form, error, guess) {
  const targets = errorPlaces(error, guess).map(([name, message]) => setFieldError(form, name, message));
  const first = targets[0];
  if (first && first.focus && first.tagName !== "DIV") first.focus();
}

// Runs handler(form.elements, button) on submit, the button busy meanwhile; what it throws
// is shown on the form, each message next to its field (guess(message) names one).
export function onSubmit(form, handler, guess) {
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
