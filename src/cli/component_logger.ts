// raft's Logger for the whole member: raft, the host, rafthttp, the WAL and
// the snapshotter all write to the one Logger they are given, and the last
// four mark their messages with a "component: " prefix (etcd's wording
// again: "rafthttp: peer 8e9e… became active"). Here each prefixed message
// goes to a child logger of that component with the prefix cut, and the rest
// to component "raft", so structured logs can be filtered by component.
// Children are made once per component (they hold pino child loggers).

import type { Log } from "../log/index.ts";
import { type Logger, RaftPanicError } from "../raft/index.ts";

const COMPONENTS = ["host", "rafthttp", "wal", "snap", "kv", "transport"] as const;
const PREFIX = new RegExp(`^(${COMPONENTS.join("|")}): `);

/** raft's Logger for a member process: each message goes to the child Log of its component (see above). */
export class ComponentLogger implements Logger {
  private readonly children = new Map<string, Log>();
  private readonly raft: Log;
  private readonly root: Log;

  constructor(root: Log) {
    this.root = root;
    this.raft = root.child("raft");
  }

  /** The child logger for a message and the message without its component prefix. */
  private route(msg: string): [Log, string] {
    const m = PREFIX.exec(msg);
    if (m === null) return [this.raft, msg];
    const name = m[1]!;
    let log = this.children.get(name);
    if (log === undefined) {
      log = this.root.child(name);
      this.children.set(name, log);
    }
    return [log, msg.slice(m[0].length)];
  }

  /** A debug line (skipped cheaply when debug is off). */
  debug(msg: string): void {
    // Debug lines are off unless asked for: skip the routing too.
    if (!this.root.isLevelEnabled("debug")) return;
    const [log, text] = this.route(msg);
    log.debug(text);
  }

  /** An info line. */
  info(msg: string): void {
    if (!this.root.isLevelEnabled("info")) return;
    const [log, text] = this.route(msg);
    log.info(text);
  }

  /** A warn line. */
  warning(msg: string): void {
    const [log, text] = this.route(msg);
    log.warn(text);
  }

  /** An error line. */
  error(msg: string): void {
    const [log, text] = this.route(msg);
    log.error(text);
  }

  /** Writes a fatal line, then throws RaftPanicError (as raft requires). */
  fatal(msg: string): never {
    const [log, text] = this.route(msg);
    log.fatal(text);
    throw new RaftPanicError(msg);
  }

  /** Writes a fatal line marked panic, then throws RaftPanicError. */
  panic(msg: string): never {
    const [log, text] = this.route(msg);
    log.fatal(text, { panic: true });
    throw new RaftPanicError(msg);
  }
}
