// Elements from code: h(tag, props, ...children), append() and clear(); values go in as text.

const PROPS = new Set(["disabled", "hidden", "readOnly", "htmlFor"]);

export function h(tag, props, ...children) {
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

export function append(el, children) {
  for (const child of [children].flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}
