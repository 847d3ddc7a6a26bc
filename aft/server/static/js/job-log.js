// A job's log lines as the job page searches and downloads them (pure: no DOM).

const LEVEL_NAMES = { debug: "DEBUG", info: "INFO", warn: "WARN", error: "ERROR" };

// A level as the log shows it: "INFO".
export function levelName(level) {
  return LEVEL_NAMES[level] || level;
}

// One line of the downloaded log: its UTC time (ISO 8601, to the millisecond), level, text.
export function logLineText(line) {
  return `${new Date(line.time * 1000).toISOString()} ${levelName(line.level).padEnd(5)} ${line.text}`;
}

// The downloaded log: every line, each ending in a newline.
export function logText(lines) {
  return lines.map((line) => `${logLineText(line)}\n`).join("");
}

// Whether a line holds the text searched for (any case; every line when there is none).
export function lineMatches(line, search) {
  const wanted = search.trim().toLowerCase();
  return !wanted || line.text.toLowerCase().includes(wanted) || levelName(line.level).toLowerCase() === wanted;
}
