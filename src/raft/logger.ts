// The logging interface raft writes to. Messages arrive fully formatted, in
// etcd's wording; fatal and panic throw after logging.

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warning(msg: string): void;
  error(msg: string): void;
  /** Logs and throws: raft cannot continue. */
  fatal(msg: string): never;
  /** Logs and throws: an invariant was violated (etcd panics). */
  panic(msg: string): never;
}

/** Thrown by a Logger's fatal/panic: raft hit a state it must not continue from. */
export class RaftPanicError extends Error {
  readonly code = "ERR_RAFT_PANIC";
  constructor(message: string) {
    super(message);
    this.name = "RaftPanicError";
  }
}

export const LogLevel = { Debug: 0, Info: 1, Warn: 2, Error: 3, Fatal: 4, None: 5 } as const;
export type LogLevel = (typeof LogLevel)[keyof typeof LogLevel];

// The core runs in any JS engine, so it reaches the console without Node or DOM typings.
const consoleSink = (line: string): void => {
  (globalThis as { console?: { error(s: string): void } }).console?.error(line);
};

/** Writes "LEVEL message" lines to a sink (console.error by default), from `level` up. */
export class DefaultLogger implements Logger {
  level: LogLevel;
  private readonly sink: (line: string) => void;

  constructor(level: LogLevel = LogLevel.Info, sink: (line: string) => void = consoleSink) {
    this.level = level;
    this.sink = sink;
  }

  debug(msg: string): void {
    if (this.level <= LogLevel.Debug) this.sink(`raft DEBUG: ${msg}`);
  }
  info(msg: string): void {
    if (this.level <= LogLevel.Info) this.sink(`raft INFO: ${msg}`);
  }
  warning(msg: string): void {
    if (this.level <= LogLevel.Warn) this.sink(`raft WARN: ${msg}`);
  }
  error(msg: string): void {
    if (this.level <= LogLevel.Error) this.sink(`raft ERROR: ${msg}`);
  }
  fatal(msg: string): never {
    if (this.level <= LogLevel.Fatal) this.sink(`raft FATAL: ${msg}`);
    throw new RaftPanicError(msg);
  }
  panic(msg: string): never {
    if (this.level <= LogLevel.Fatal) this.sink(`raft PANIC: ${msg}`);
    throw new RaftPanicError(msg);
  }
}

/** A logger that drops everything except the throw of fatal/panic. */
export const discardLogger: Logger = new DefaultLogger(LogLevel.None, () => {});

let defaultLogger: Logger = new DefaultLogger();

export function getLogger(): Logger {
  return defaultLogger;
}

/** Replaces the process-wide logger used when a Config names none. */
export function setLogger(l: Logger): void {
  defaultLogger = l;
}
