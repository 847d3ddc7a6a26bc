// Talking to the service: JSON over fetch, the session's CSRF token on every change.
import { ApiError } from "./errors.js";

// The signed-in account and its role; grants are the needs the role meets (aft.roles:
// "any", "viewer", "run", "admin"); csrf is null while nobody is signed in.
export const session = { csrf: null, username: null, role: null, grants: [], version: "" };

const NEED_WORDS = { run: "the operator or admin role", admin: "the admin role", viewer: "a viewer, operator or admin role" };

// True when the signed-in role may do what needs `need`.
export function can(need) {
  return session.grants.includes(need);
}

// Why a control is off for this role, for its title.
export function whyNot(need) {
  return `This needs ${NEED_WORDS[need] || need}; you are signed in as ${session.role}.`;
}

export const enc = encodeURIComponent;

let sessionLost = () => {};

// What to do when a /v1 call answers 401: the session has ended.
export function onSessionLost(handler) {
  sessionLost = handler;
}

// The answer's JSON; ApiError when the service cannot be reached or answers an error.
export async function api(method, path, body) {
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
