// The errors a form meets, and the field each message is shown on (pure: no DOM).
import { capitalize } from "./format.js";

// A call to the service that failed: the HTTP status (0: unreachable), the error's code and
// the form field the service says it is about.
export class ApiError extends Error {
  constructor(status, data) {
    super((data && data.message) || `the service answered HTTP ${status}`);
    this.status = status;
    this.code = data && data.error;
    this.field = data && data.field;
  }
}

// What the page found wrong in a form before asking the service: { field: message }.
export class FieldErrors extends Error {
  constructor(problems) {
    super(Object.values(problems)[0]);
    this.problems = problems;
  }
}

// Throws FieldErrors when there is any problem.
export function check(problems) {
  if (Object.keys(problems).length) throw new FieldErrors(problems);
}

// A guess of the field a message is about: that of the first [pattern, field] that matches.
export function guessBy(rules) {
  return (message) => {
    for (const [pattern, name] of rules) if (pattern.test(message)) return name;
    return null;
  };
}

// Where each message of an error goes: [[field, message], ...], field null for the form's top.
// The service's own field comes first; a guess from the message is made only for a 4xx answer.
export function errorPlaces(error, guess) {
  if (error instanceof FieldErrors) return Object.entries(error.problems);
  const name = error.field || (guess && error.status && error.status < 500 ? guess(error.message || "") : null);
  return [[name || null, capitalize(error.message || String(error))]];
}
