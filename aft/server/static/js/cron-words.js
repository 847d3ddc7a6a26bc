// A cron line in words, for the common shapes ("At 02:00 every day"); null for the others,
// whose next runs (listed beside) say what they do (pure: no DOM).
import { pad } from "./format.js";

const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const NUMBER = /^\d+$/;

// A weekday field as words ("Monday", "Monday to Friday", "Saturday and Sunday"); null if
// it is not one or two days, or a range of days.
function weekdays(field) {
  const day = (text) => {
    const index = NUMBER.test(text) ? Number(text) : DAY_NAMES.indexOf(text.toUpperCase());
    return index >= 0 && index <= 7 ? DAYS[index] : null;
  };
  const range = /^(\w+)-(\w+)$/.exec(field);
  if (range && day(range[1]) && day(range[2])) return `${day(range[1])} to ${day(range[2])}`;
  const list = field.split(",");
  if (list.length <= 2 && list.every(day)) return list.map(day).join(" and ");
  return null;
}

export function cronWords(cron) {
  const fields = cron.trim().split(/\s+/);
  if (fields.length === 6) {
    const [second, ...rest] = fields;
    const every = /^\*\/(\d+)$/.exec(second);
    if (every && rest.every((f) => f === "*")) return `Every ${every[1]} seconds`;
    return second === "0" ? cronWords(rest.join(" ")) : null;
  }
  if (fields.length !== 5) return null;
  const [minute, hour, dom, month, dow] = fields;
  if (month !== "*") return null;
  if (fields.every((f) => f === "*")) return "Every minute";
  const everyMinutes = /^\*\/(\d+)$/.exec(minute);
  if (everyMinutes && hour === "*" && dom === "*" && dow === "*") return `Every ${everyMinutes[1]} minutes`;
  if (NUMBER.test(minute) && hour === "*" && dom === "*" && dow === "*") return `At minute ${Number(minute)} of every hour`;
  if (!NUMBER.test(minute) || !NUMBER.test(hour)) return null;
  const at = `At ${pad(Number(hour))}:${pad(Number(minute))}`;
  if (dom === "*" && dow === "*") return `${at} every day`;
  if (dom === "*") return weekdays(dow) ? `${at} on ${weekdays(dow)}` : null;
  if (NUMBER.test(dom) && dow === "*") return `${at} on day ${Number(dom)} of every month`;
  return null;
}
