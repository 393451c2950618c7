// The human-readable form of a JSON log line, for terminals:
//   2026-01-02T03:04:05.678Z INFO  m1 raft: became leader at term 2 term=2 (suppressed 3 similar)
// Fields other than the fixed ones follow as key=value (strings quoted when
// they hold spaces or quotes, objects as JSON); an error shows its message
// (its stack when present, indented on the following lines).

const FIXED = new Set(["level", "time", "pid", "member", "component", "msg", "suppressed", "hostname"]);

const COLORS: Record<string, string> = {
  debug: "\x1b[90m",
  info: "\x1b[32m",
  warn: "\x1b[33m",
  error: "\x1b[31m",
  fatal: "\x1b[35m",
};
const RESET = "\x1b[0m";

function fieldValue(v: unknown): string {
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean" || v === null) return String(v);
  return JSON.stringify(v);
}

/** Formats one JSON line from pino; a line that is not a JSON object is passed through unchanged. */
export function formatConsoleLine(line: string, color: boolean): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith("\n") ? line : `${line}\n`;
  }
  if (o === null || typeof o !== "object") return line;
  const level = String(o.level ?? "");
  const lv = level.toUpperCase().padEnd(5);
  let out = `${o.time ?? ""} ${color ? `${COLORS[level] ?? ""}${lv}${RESET}` : lv}`;
  if (o.member !== undefined) out += ` ${o.member}`;
  if (o.component !== undefined) out += ` ${o.component}:`;
  out += ` ${String(o.msg ?? "")}`;
  let stack: string | undefined;
  for (const [k, v] of Object.entries(o)) {
    if (FIXED.has(k)) continue;
    if (k === "err" && v !== null && typeof v === "object") {
      const e = v as { message?: unknown; stack?: unknown; code?: unknown };
      out += ` err=${fieldValue(e.message)}`;
      if (e.code !== undefined) out += ` code=${fieldValue(e.code)}`;
      if (typeof e.stack === "string") stack = e.stack;
      continue;
    }
    out += ` ${k}=${fieldValue(v)}`;
  }
  if (typeof o.suppressed === "number" && o.suppressed > 0) out += ` (suppressed ${o.suppressed} similar)`;
  out += "\n";
  if (stack !== undefined) out += `${stack.replace(/^/gm, "    ")}\n`;
  return out;
}
