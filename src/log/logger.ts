// Structured logs: one JSON object per line through pino, or the same lines
// made human-readable on a terminal.
//
//   {"level":"warn","time":"2026-01-02T03:04:05.678Z","pid":4711,"member":"m1",
//    "component":"rafthttp","peer":"8e9e05c52164694d","msg":"lost the stream","suppressed":12}
//
// `level` is the level's name and `time` an ISO-8601 UTC timestamp, from an
// injectable clock (as etcd's zap logs). `member` names the member, set once
// for the process; `component` is set per child logger ("raft", "rafthttp",
// "wal", ...). Reserved keys: level, time, pid, member, component, msg,
// suppressed; do not use them as field names.
//
// Writes are synchronous (pino's sync destination): a member that exits
// right after a fatal line must not lose it, and log volume is small enough
// that a write per line costs nothing that matters.
//
// Every line passes a RepeatLimiter (rate_limit.ts) keyed by the child
// logger (component and bindings), level and message or the caller's key
// (per-call fields are not part of it), so a repeated line is written at
// most once per window, 5 s by default; `everyMs: 0` exempts a line. Fatal
// lines are never held back. The level check comes first, so disabled debug
// lines cost one comparison and never reach the limiter.

import { type DestinationStream, type Logger as PinoLogger, pino } from "pino";
import { formatConsoleLine } from "./console_format.ts";
import { LogConfigError } from "./errors.ts";
import { RepeatLimiter } from "./rate_limit.ts";

/** Levels a logger can be set to, least to most severe (fatal lines are always written). */
export type LogLevelName = "debug" | "info" | "warn" | "error";
/** "json": one JSON object per line; "console": human-readable; "auto": console on a terminal, else json. */
export type LogFormat = "auto" | "json" | "console";
/** Structured fields of one line (the reserved keys listed at the top of this file excepted). */
export type LogFields = Record<string, unknown>;

/** Where lines go: any object with a synchronous write (tests collect lines this way). */
export interface LogDestination {
  /** Receives one complete line (with its trailing newline). */
  write(line: string): void;
  /** Whether it is a terminal ("auto" format picks console then). */
  isTTY?: boolean;
}

/** Options of Log.create (every one optional). */
export interface LoggerOptions {
  /** The member's name, on every line. */
  member?: string;
  /** Lowest level written (default "info"). */
  level?: LogLevelName;
  /** "auto" (default): console on a terminal, JSON otherwise. */
  format?: LogFormat;
  /** "stderr" (default), "stdout", a file path (appended, created with its directory), or a destination. */
  output?: string | LogDestination;
  /** ANSI colours in console format (default: on a terminal unless NO_COLOR is set). */
  color?: boolean;
  /** Milliseconds since the epoch (default Date.now); timestamps and rate limiting use it. */
  clock?: () => number;
  /** Default repeat window per key (default 5000 ms; 0 disables rate limiting). */
  repeatWindowMs?: number;
  /** Keys the rate limiter remembers (default 10000). */
  maxRepeatKeys?: number;
}

/** Per-line rate limiting: `key` replaces the message as the key; `everyMs` the window (0: never limit). */
export interface LimitOptions {
  /** Lines with the same key (in the same child logger and level) share one window; default the message. */
  key?: string;
  /** The window in ms (default the logger's repeat window; 0: never held back). */
  everyMs?: number;
}

const LEVELS: Record<LogLevelName | "fatal", number> = {
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
};
const NAMES: Record<number, LogLevelName | "fatal"> = {
  20: "debug",
  30: "info",
  40: "warn",
  50: "error",
  60: "fatal",
};

/** State shared by a logger and its children. */
interface Shared {
  min: number;
  windowMs: number;
  limiter: RepeatLimiter;
}

/** A repeated line is written at most once per this many ms unless the logger or the call says otherwise. */
export const DEFAULT_REPEAT_WINDOW_MS = 5000;

function checkLevel(l: string): LogLevelName {
  if (l === "debug" || l === "info" || l === "warn" || l === "error") return l;
  throw new LogConfigError(`log level ${JSON.stringify(l)} is not one of debug, info, warn, error`);
}

function openOutput(output: string | LogDestination): { dest: LogDestination; tty: boolean } {
  if (typeof output !== "string") return { dest: output, tty: output.isTTY === true };
  if (output === "stderr" || output === "stdout") {
    const fd = output === "stderr" ? 2 : 1;
    const stream = output === "stderr" ? process.stderr : process.stdout;
    return { dest: pino.destination({ fd, sync: true }), tty: stream.isTTY === true };
  }
  if (output === "") throw new LogConfigError("log output: empty file name");
  try {
    return { dest: pino.destination({ dest: output, sync: true, mkdir: true, append: true }), tty: false };
  } catch (err) {
    throw new LogConfigError(`log output: cannot open ${output}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * A structured logger (pino underneath): JSON lines with ISO timestamps, or
 * human-readable ones on a terminal, repeated lines rate-limited. Create the
 * root with Log.create, then child loggers per component; a level change on
 * any of them applies to all.
 */
export class Log {
  private readonly p: PinoLogger;
  private readonly shared: Shared;
  /** The component of this logger, undefined at the root. */
  readonly component: string | undefined;
  private readonly scope: string;

  private constructor(p: PinoLogger, shared: Shared, component: string | undefined, scope: string) {
    this.p = p;
    this.shared = shared;
    this.component = component;
    this.scope = scope;
  }

  /** Creates the process's root logger. Throws LogConfigError for a bad level, format or output. */
  static create(opts: LoggerOptions = {}): Log {
    const level = checkLevel(opts.level ?? "info");
    const format = opts.format ?? "auto";
    if (format !== "auto" && format !== "json" && format !== "console") {
      throw new LogConfigError(`log format ${JSON.stringify(format)} is not one of json, console`);
    }
    const clock = opts.clock ?? Date.now;
    const { dest, tty } = openOutput(opts.output ?? "stderr");
    const consoleFormat = format === "console" || (format === "auto" && tty);
    const color = opts.color ?? (consoleFormat && tty && process.env.NO_COLOR === undefined);
    const stream: DestinationStream = consoleFormat
      ? { write: (line: string) => dest.write(formatConsoleLine(line, color)) }
      : dest;
    const shared = {} as Shared;
    const base: Record<string, unknown> = { pid: process.pid };
    if (opts.member !== undefined) base.member = opts.member;
    const root = pino(
      {
        // pino writes everything it is handed; the level check is ours (Shared.min), so that a
        // level change reaches every child logger at once.
        level: "trace",
        base,
        timestamp: () => `,"time":"${new Date(clock()).toISOString()}"`,
        formatters: { level: (label) => ({ level: label }) },
        serializers: {
          // Stacks only when debugging: an operator wants the one line, a developer the trace.
          err: (e: Error) => {
            const s = pino.stdSerializers.err(e) as unknown as Record<string, unknown>;
            if (shared.min > LEVELS.debug) delete s.stack;
            return s;
          },
        },
      },
      stream,
    );
    const windowMs = opts.repeatWindowMs ?? DEFAULT_REPEAT_WINDOW_MS;
    if (!Number.isFinite(windowMs) || windowMs < 0) {
      throw new LogConfigError(`repeat window ${windowMs} ms: must be 0 or more`);
    }
    shared.min = LEVELS[level];
    shared.windowMs = windowMs;
    shared.limiter = new RepeatLimiter(clock, opts.maxRepeatKeys ?? 10_000, Log.report);
    return new Log(root, shared, undefined, "");
  }

  /** Writes a held-back count through the child logger that held the lines (its component and bindings). */
  private static report(this: void, level: number, msg: string, suppressed: number, ctx: unknown): void {
    const name = NAMES[level] ?? "info";
    (ctx as PinoLogger)[name]({ suppressed }, msg);
  }

  /**
   * A logger for one component; it shares level, output and rate limiting
   * with this one. Its bindings (e.g. { peer }) are part of its rate-limit
   * keys, so two peers' identical messages are limited separately.
   */
  child(component: string, bindings: LogFields = {}): Log {
    const scope = `${this.scope}${component}${Object.keys(bindings).length > 0 ? JSON.stringify(bindings) : ""}\u0000`;
    return new Log(this.p.child({ component, ...bindings }), this.shared, component, scope);
  }

  get level(): LogLevelName {
    return NAMES[this.shared.min] as LogLevelName;
  }

  /** Changes the level of this logger and all its relatives. */
  set level(l: LogLevelName) {
    this.shared.min = LEVELS[checkLevel(l)];
  }

  /** Whether a line at level `l` would be written (to skip building costly fields). */
  isLevelEnabled(l: LogLevelName): boolean {
    return LEVELS[l] >= this.shared.min;
  }

  /** Writes a debug line (rate-limited per `limit`). */
  debug(msg: string, fields?: LogFields, limit?: LimitOptions): void {
    if (LEVELS.debug >= this.shared.min) this.write(LEVELS.debug, msg, fields, limit);
  }

  /** Writes an info line (rate-limited per `limit`). */
  info(msg: string, fields?: LogFields, limit?: LimitOptions): void {
    if (LEVELS.info >= this.shared.min) this.write(LEVELS.info, msg, fields, limit);
  }

  /** Writes a warning line (rate-limited per `limit`). */
  warn(msg: string, fields?: LogFields, limit?: LimitOptions): void {
    if (LEVELS.warn >= this.shared.min) this.write(LEVELS.warn, msg, fields, limit);
  }

  /** Writes an error line (rate-limited per `limit`). */
  error(msg: string, fields?: LogFields, limit?: LimitOptions): void {
    if (LEVELS.error >= this.shared.min) this.write(LEVELS.error, msg, fields, limit);
  }

  /** Always written, never rate-limited: the member is about to stop. */
  fatal(msg: string, fields?: LogFields): void {
    if (fields === undefined) this.p.fatal(msg);
    else this.p.fatal(fields, msg);
  }

  /**
   * Writes one line per key that has suppressed lines pending ("msg" with
   * suppressed: K), e.g. before the process exits; returns how many.
   */
  flushSuppressed(): number {
    return this.shared.limiter.flush(Log.report);
  }

  private write(
    level: number,
    msg: string,
    fields: LogFields | undefined,
    limit: LimitOptions | undefined,
  ): void {
    const windowMs = limit?.everyMs ?? this.shared.windowMs;
    let suppressed = 0;
    if (windowMs > 0) {
      const key = `${this.scope}${level}\u0000${limit?.key ?? msg}`;
      const a = this.shared.limiter.admit(key, windowMs, level, msg, this.p);
      if (!a.pass) return;
      suppressed = a.suppressed;
    }
    const name = NAMES[level]!;
    if (suppressed > 0) this.p[name]({ ...fields, suppressed }, msg);
    else if (fields === undefined) this.p[name](msg);
    else this.p[name](fields, msg);
  }
}

/** Log.create, as a function. */
export function createLogger(opts: LoggerOptions = {}): Log {
  return Log.create(opts);
}
