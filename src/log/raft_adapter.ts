// raft's Logger interface (src/raft/logger.ts) on top of a Log: raft's
// messages become structured lines of component "raft" (or whatever the
// given Log's component is), rate-limited like any other line.
// fatal and panic are written at level "fatal" (panic with panic: true),
// never held back, and then throw RaftPanicError as raft requires.

import { type Logger, RaftPanicError } from "../raft/index.ts";
import type { Log } from "./logger.ts";

export class RaftLogAdapter implements Logger {
  private readonly log: Log;

  constructor(log: Log) {
    this.log = log;
  }

  debug(msg: string): void {
    this.log.debug(msg);
  }

  info(msg: string): void {
    this.log.info(msg);
  }

  warning(msg: string): void {
    this.log.warn(msg);
  }

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
