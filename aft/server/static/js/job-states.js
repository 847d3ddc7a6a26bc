// The states of a job, as the service names them.

export const STATES = ["queued", "running", "succeeded", "failed", "halted", "interrupted"];

// The states a job ends in.
export const FINAL = new Set(["succeeded", "failed", "halted", "interrupted"]);
