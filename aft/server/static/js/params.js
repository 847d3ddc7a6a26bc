// A job's params as typed in a form: a flat JSON object (pure: no DOM).
import { FieldErrors } from "./errors.js";

// Params typed as JSON; lone backslashes (Windows paths) are kept as typed, as `aft run -p` does.
export function parseParams(text) {
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

// The parameter names a script's source reads with Param("x") or Params("x"), in order of
// first use (names built at run time cannot be found).
export function paramNames(source) {
  const names = [];
  for (const [, , name] of source.matchAll(/\bParams?\s*\(\s*(["'])([^"'\\\n]+)\1\s*\)/g)) {
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

// The params of a past job as a form shows them again: "" for none.
export function paramsText(params) {
  return params && Object.keys(params).length ? JSON.stringify(params, null, 2) : "";
}

// The params a run form shows as fields: those the script reads (names), then those of params
// (a past job's) it no longer reads, each once.
export function fieldNames(names, params) {
  return [...new Set([...names, ...Object.keys(params || {})])];
}

// A param's value as its field shows it: what Param(name) gives the script (JSON text for a
// number, true, false or null).
export function fieldText(value) {
  return typeof value === "string" ? value : JSON.stringify(value);
}

// The params the fields hold (texts: name -> field text): an empty field is left out (Param
// gives "" for it anyway); a field still showing a value of base that is not a string keeps
// that value as it was (3 stays 3), every other one is the text typed.
export function fieldsParams(texts, base = {}) {
  const params = {};
  for (const [name, text] of Object.entries(texts)) {
    if (text === "") continue;
    const before = base[name];
    params[name] = before !== undefined && typeof before !== "string" && fieldText(before) === text ? before : text;
  }
  return params;
}
