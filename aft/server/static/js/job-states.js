// The states of a job, as the service names them.

export const STATES = ["queued", "running", "succeeded", "failed", "halted", "interrupted"];

// The states a job ends in.
export const FINAL = new Set(["succeeded", "failed", "halted", "interrupted"]);

// Who may start a job, as the service names them: [value, label] ("" for any).
export const TRIGGERS = [["", "Anyone"], ["ui", "the console"], ["api", "an API key"], ["cron", "a schedule"], ["cli", "the command line"]];
