// raft's Logger interface (src/raft/logger.ts) on top of a Log: raft's
// messages become structured lines of component "raft" (or whatever the
// given Log's component is), rate-limited like any other line.
// fatal and panic are written at level "fatal" (panic with panic: true),
// never held back, and then throw RaftPanicError as raft requires.

import { type Logger, RaftPanicError } from "../raft/index.ts";
import type { Log } from "./logger.ts";

/** raft's Logger on a Log (see raftLogger, which picks the component). */
export class RaftLogAdapter implements Logger {
  private readonly log: Log;

  constructor(log: Log) {
    this.log = log;
  }

  /** A debug line. */
  debug(msg: string): void {
    this.log.debug(msg);
  }

  /** An info line. */
  info(msg: string): void {
    this.log.info(msg);
  }

  /** A warn line (raft's name for the level). */
  warning(msg: string): void {
    this.log.warn(msg);
  }

  /** An error line. */
  error(msg: string): void {
    this.log.error(msg);
  }

  fatal(msg: string): never {
    this.log.fatal(msg);
    throw new RaftPanicError(msg);
  }

  panic(msg: string): never {
    this.log.fatal(msg, { panic: true });
    throw new RaftPanicError(msg);
  }
}

/** A raft Logger writing through `log` as component "raft" (pass a child to choose another). */
export function raftLogger(log: Log): Logger {
  return new RaftLogAdapter(log.component === undefined ? log.child("raft") : log);
}
