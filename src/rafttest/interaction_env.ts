// The interaction environment of etcd raft's data-driven tests: several
// RawNodes in one process, a global ordered message queue, MemoryStorage per
// node, and commands to step them one action at a time while every log line
// and Ready is printed in etcd's exact format.

import { findArg, parseBool, parseInt10, parseUint, type TestData } from "../datadriven/index.ts";
import type { Logger } from "../raft/index.ts";
import {
  type Config,
  cloneSnapshot,
  describeReady,
  isLocalMsgTarget,
  MemoryStorage,
  noLimit,
  RaftError,
  RawNode,
  ReadOnlyOption,
  stateTypeNames,
} from "../raft/index.ts";
import {
  ConfChange,
  type ConfChangeI,
  ConfChangeParseError,
  ConfChangeTransition,
  ConfChangeV2,
  type ConfState,
  confChangesFromString,
  decodeConfChange,
  decodeConfChangeV2,
  describeEntries,
  describeMessage,
  type Entry,
  EntryType,
  HardState,
  isEmptyHardState,
  isEmptySnap,
  Message,
  MessageType,
  messageTypeFromName,
  parseUint64,
  quoteBytes,
  Snapshot,
  SnapshotMetadata,
  sortIds,
  utf8,
} from "../raftpb/index.ts";

const LEVEL_NAMES = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL", "NONE"] as const;
const LEVEL_NONE = 5;

/** An error that aborts the test file (etcd's t.Fatal), as opposed to an error printed as output. */
export class HarnessFatalError extends Error {
  readonly code = "ERR_HARNESS_FATAL";
  constructor(message: string) {
    super(message);
    this.name = "HarnessFatalError";
  }
}

/**
 * The shared output buffer, which is also every node's raft Logger, so that
 * library log lines and harness output interleave exactly as they happen.
 * At level NONE every write is dropped, harness output included.
 */
export class RedirectLogger implements Logger {
  buf = "";
  lvl = 0;

  write(s: string): void {
    if (this.lvl !== LEVEL_NONE) this.buf += s;
  }

  private log(level: number, msg: string): void {
    if (this.lvl <= level) {
      this.buf += `${LEVEL_NAMES[level]} ${msg}`;
      if (msg.length > 0 && !msg.endsWith("\n")) this.buf += "\n";
    }
  }

  debug(msg: string): void {
    this.log(0, msg);
  }
  info(msg: string): void {
    this.log(1, msg);
  }
  warning(msg: string): void {
    this.log(2, msg);
  }
  error(msg: string): void {
    this.log(3, msg);
  }
  fatal(msg: string): never {
    this.log(4, msg);
    throw new HarnessFatalError(msg);
  }
  panic(msg: string): never {
    this.log(4, msg);
    throw new HarnessFatalError(msg);
  }
}

/** MemoryStorage whose snapshot() is the node's latest state-machine snapshot (its History). */
class SnapOverrideStorage extends MemoryStorage {
  private readonly node: () => InteractionNode;
  constructor(node: () => InteractionNode) {
    super();
    this.node = node;
  }
  override snapshot(): Snapshot {
    const h = this.node().history;
    return h[h.length - 1]!;
  }
}

export class InteractionNode {
  rawNode: RawNode;
  storage: SnapOverrideStorage;
  config: Config;
  appendWork: Message[] = [];
  applyWork: Message[] = [];
  /** Snapshots of the "appender" state machine after each applied entry. */
  history: Snapshot[];

  constructor(rawNode: RawNode, storage: SnapOverrideStorage, config: Config, history: Snapshot[]) {
    this.rawNode = rawNode;
    this.storage = storage;
    this.config = config;
    this.history = history;
  }

  get id(): bigint {
    return this.rawNode.raft.id;
  }
}

interface Recipient {
  id: bigint;
  drop: boolean;
}

// Local messages are never dropped: they need reliable delivery.
function isLocalMessage(m: Message): boolean {
  return m.from === m.to || isLocalMsgTarget(m.from) || isLocalMsgTarget(m.to);
}

export class InteractionEnv {
  readonly output = new RedirectLogger();
  readonly nodes: InteractionNode[] = [];
  messages: Message[] = [];

  /** Runs one directive and returns its output (etcd's Handle). */
  handle(d: TestData): string {
    this.output.buf = "";
    let err: Error | null = null;
    try {
      err = this.dispatch(d);
    } catch (e) {
      if (e instanceof RaftError || e instanceof ConfChangeParseError) err = e;
      else throw e;
    }
    if (err !== null) {
      if (this.output.lvl === LEVEL_NONE) return err.message;
      this.output.buf += err.message;
    }
    return this.output.buf.length === 0 ? "ok" : this.output.buf;
  }

  private dispatch(d: TestData): Error | null {
    switch (d.cmd) {
      case "_breakpoint":
        return null;
      case "add-nodes":
        return this.handleAddNodes(d);
      case "campaign":
        this.nodes[this.firstAsNodeIdx(d)]!.rawNode.campaign();
        return null;
      case "compact":
        return this.handleCompact(d);
      case "deliver-msgs":
        return this.handleDeliverMsgs(d);
      case "process-ready":
        return this.forEachNode(d, "handling Ready", (idx) => this.processReady(idx));
      case "process-append-thread":
        return this.forEachNode(d, "processing append thread", (idx) => this.processAppendThread(idx));
      case "process-apply-thread":
        return this.forEachNode(d, "processing apply thread", (idx) => this.processApplyThread(idx));
      case "log-level":
        return this.setLogLevel(d.cmdArgs[0]?.key ?? "");
      case "raft-log":
        return this.raftLog(this.firstAsNodeIdx(d));
      case "raft-state":
        return this.handleRaftState();
      case "set-randomized-election-timeout":
        return this.handleSetRandomizedElectionTimeout(d);
      case "stabilize":
        return this.handleStabilize(d);
      case "status":
        return this.handleStatus(d);
      case "tick-election": {
        const idx = this.firstAsNodeIdx(d);
        this.tick(idx, this.nodes[idx]!.config.electionTick);
        return null;
      }
      case "tick-heartbeat": {
        const idx = this.firstAsNodeIdx(d);
        this.tick(idx, this.nodes[idx]!.config.heartbeatTick);
        return null;
      }
      case "transfer-leadership":
        return this.handleTransferLeadership(d);
      case "forget-leader":
        try {
          this.nodes[this.firstAsNodeIdx(d)]!.rawNode.forgetLeader();
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
        }
        return null;
      case "send-snapshot":
        return this.handleSendSnapshot(d);
      case "propose":
        return this.handlePropose(d);
      case "propose-conf-change":
        return this.handleProposeConfChange(d);
      case "report-unreachable":
        return this.handleReportUnreachable(d);
      // tsraft's own commands (its testdata/ files; etcd's never use them).
      case "read-index":
        return this.handleReadIndex(d);
      case "tick":
        return this.handleTick(d);
      case "lease-state":
        return this.handleLeaseState();
      default:
        return new Error("unknown command");
    }
  }

  // ----------------------------------------------------------- arguments

  private firstAsNodeIdx(d: TestData): number {
    const a = d.cmdArgs[0];
    if (a === undefined) throw new HarnessFatalError(`${d.pos}: expected a node index`);
    return this.parseNodeIdx(a.key, d);
  }

  private parseNodeIdx(key: string, d: TestData): number {
    if (!/^[0-9]+$/.test(key)) throw new HarnessFatalError(`${d.pos}: not a node index: ${key}`);
    const n = Number(key);
    if (n < 1 || n > this.nodes.length) throw new HarnessFatalError(`${d.pos}: no node ${key}`);
    return n - 1;
  }

  /** Every argument without values, as node indexes. */
  private nodeIdxs(d: TestData): number[] {
    return d.cmdArgs.filter((a) => a.vals.length === 0).map((a) => this.parseNodeIdx(a.key, d));
  }

  private scanUint(d: TestData, key: string): number {
    const a = findArg(d, key);
    if (a === undefined) throw new HarnessFatalError(`${d.pos}: missing argument: ${key}`);
    if (a.vals.length !== 1) throw new HarnessFatalError(`${d.pos}: ${key} needs exactly one value`);
    return parseUint(a.vals[0]!);
  }

  // ------------------------------------------------------------ commands

  private handleAddNodes(d: TestData): Error | null {
    const n = parseUint(d.cmdArgs[0]?.key ?? "");
    const snap = new Snapshot(new Uint8Array(0), new SnapshotMetadata());
    const cfg: Config = {
      id: 0n,
      electionTick: 3,
      heartbeatTick: 1,
      storage: new MemoryStorage(),
      maxSizePerMsg: noLimit,
      maxInflightMsgs: 2 ** 31 - 1,
    };
    for (const arg of d.cmdArgs.slice(1)) {
      for (const v of arg.vals) {
        switch (arg.key) {
          case "voters":
            snap.metadata.confState.voters.push(parseUint64(v));
            break;
          case "learners":
            snap.metadata.confState.learners.push(parseUint64(v));
            break;
          case "inflight":
            cfg.maxInflightMsgs = parseInt10(v);
            break;
          case "index":
            snap.metadata.index = parseUint(v);
            cfg.applied = snap.metadata.index;
            break;
          case "content":
            snap.data = utf8(v);
            break;
          case "async-storage-writes":
            cfg.asyncStorageWrites = parseBool(v);
            break;
          case "prevote":
            cfg.preVote = parseBool(v);
            break;
          case "checkquorum":
            cfg.checkQuorum = parseBool(v);
            break;
          case "max-committed-size-per-ready":
            cfg.maxCommittedSizePerReady = parseUint(v);
            break;
          case "disable-conf-change-validation":
            cfg.disableConfChangeValidation = parseBool(v);
            break;
          case "read-only":
            if (v === "safe") cfg.readOnlyOption = ReadOnlyOption.ReadOnlySafe;
            else if (v === "lease-based") cfg.readOnlyOption = ReadOnlyOption.ReadOnlyLeaseBased;
            else return new Error(`invalid read-only option ${JSON.stringify(v)}`);
            break;
          case "step-down-on-removal":
            cfg.stepDownOnRemoval = parseBool(v);
            break;
          // tsraft's own options (its testdata/ files; etcd's never use them).
          case "election-tick":
            cfg.electionTick = parseInt10(v);
            break;
          case "heartbeat-tick":
            cfg.heartbeatTick = parseInt10(v);
            break;
          case "lease-safety":
            if (v !== "etcd" && v !== "strict") return new Error(`invalid lease safety ${JSON.stringify(v)}`);
            cfg.leaseSafety = v;
            break;
          case "lease-drift-margin":
            cfg.leaseDriftMarginTicks = parseInt10(v);
            break;
          case "share-commit-in-votes":
            cfg.shareCommitInVotes = parseBool(v);
            break;
          case "keep-clock-on-rejected-vote":
            cfg.keepClockOnRejectedVote = parseBool(v);
            break;
        }
      }
    }
    return this.addNodes(n, cfg, snap);
  }

  /** Adds n nodes; they are bootstrapped from `snap` unless it is the zero snapshot. */
  addNodes(n: number, template: Config, snap: Snapshot): Error | null {
    const md = snap.metadata;
    const cs = md.confState;
    const bootstrap =
      md.index !== 0 ||
      md.term !== 0 ||
      snap.data.length !== 0 ||
      cs.voters.length + cs.learners.length + cs.votersOutgoing.length + cs.learnersNext.length !== 0 ||
      cs.autoLeave;
    for (let i = 0; i < n; i++) {
      const id = this.nodes.length + 1;
      const idx = id - 1;
      const storage = new SnapOverrideStorage(() => this.nodes[idx]!);
      if (bootstrap) {
        // MemoryStorage starts with a dummy entry at index 0 that a snapshot
        // at index 1 could not replace, hence the lower bound.
        if (md.index <= 1) return new Error("index must be specified as > 1 due to bootstrap");
        md.term = 1;
        storage.applySnapshot(snap);
        const fi = storage.firstIndex();
        if (fi !== md.index + 1)
          return new Error(`failed to establish first index ${md.index + 1}; got ${fi}`);
      }
      const cfg: Config = { ...template, id: BigInt(id), storage, logger: this.output };
      const rn = new RawNode(cfg);
      this.nodes.push(new InteractionNode(rn, storage, cfg, [snap]));
    }
    return null;
  }

  private handleCompact(d: TestData): Error | null {
    const idx = this.firstAsNodeIdx(d);
    let index: number;
    try {
      index = parseUint(d.cmdArgs[1]?.key ?? "");
    } catch (e) {
      return e as Error;
    }
    this.nodes[idx]!.storage.compact(index);
    return this.raftLog(idx);
  }

  private handleDeliverMsgs(d: TestData): Error | null {
    const rs: Recipient[] = [];
    let typ: MessageType | -1 = -1;
    for (const arg of d.cmdArgs) {
      if (arg.vals.length === 0) {
        rs.push({ id: parseUint64(arg.key), drop: false });
        continue;
      }
      for (const v of arg.vals) {
        switch (arg.key) {
          case "drop": {
            const id = parseUint64(v);
            if (rs.some((r) => r.id === id && !r.drop)) {
              throw new HarnessFatalError(`${d.pos}: can't both deliver and drop msgs to ${id}`);
            }
            rs.push({ id, drop: true });
            break;
          }
          case "type": {
            const t = messageTypeFromName(v);
            if (t === undefined) throw new HarnessFatalError(`${d.pos}: unknown message type ${v}`);
            typ = t;
            break;
          }
        }
      }
    }
    if (this.deliverMsgs(typ, rs) === 0) this.output.write("no messages\n");
    return null;
  }

  /** Runs f for each listed node; with several nodes each gets a header and indented output. */
  private forEachNode(d: TestData, header: string, f: (idx: number) => Error | null): Error | null {
    const idxs = this.nodeIdxs(d);
    for (const idx of idxs) {
      let err: Error | null;
      if (idxs.length > 1) {
        this.output.write(`> ${idx + 1} ${header}\n`);
        err = this.withIndent(() => f(idx));
      } else {
        err = f(idx);
      }
      if (err !== null) return err;
    }
    return null;
  }

  setLogLevel(name: string): Error | null {
    const i = LEVEL_NAMES.findIndex((l) => l.toLowerCase() === name.toLowerCase());
    if (i < 0) return new Error(`log levels must be either of [${LEVEL_NAMES.join(" ")}]`);
    this.output.lvl = i;
    return null;
  }

  raftLog(idx: number): Error | null {
    const s = this.nodes[idx]!.storage;
    const fi = s.firstIndex();
    const li = s.lastIndex();
    if (li < fi) {
      this.output.write(`log is empty: first index=${fi}, last index=${li}`);
      return null;
    }
    this.output.write(describeEntries(s.entries(fi, li + 1, noLimit), quoteBytes));
    return null;
  }

  private handleRaftState(): Error | null {
    for (const n of this.nodes) {
      const st = n.rawNode.status();
      const voter = st.config.voters.has(st.id) ? "(Voter)" : "(Non-Voter)";
      this.output.write(
        `${st.id}: ${stateTypeNames[st.softState.raftState]} ${voter} Term:${st.hardState.term} Lead:${st.softState.lead}\n`,
      );
    }
    return null;
  }

  private handleSetRandomizedElectionTimeout(d: TestData): Error | null {
    const idx = this.firstAsNodeIdx(d);
    const a = findArg(d, "timeout");
    if (a === undefined || a.vals.length !== 1)
      throw new HarnessFatalError(`${d.pos}: missing argument: timeout`);
    const timeout = parseInt10(a.vals[0]!);
    if (timeout === 0) throw new HarnessFatalError(`${d.pos}: timeout must not be zero`);
    this.nodes[idx]!.rawNode.raft.randomizedElectionTimeout = timeout;
    return null;
  }

  private handleStabilize(d: TestData): Error | null {
    const idxs = this.nodeIdxs(d);
    const old = this.output.lvl;
    try {
      for (const arg of d.cmdArgs) {
        if (arg.key !== "log-level") continue;
        for (const v of arg.vals) {
          const err = this.setLogLevel(v);
          if (err !== null) return err;
        }
      }
      return this.stabilize(idxs);
    } finally {
      this.output.lvl = old;
    }
  }

  private handleStatus(d: TestData): Error | null {
    const st = this.nodes[this.firstAsNodeIdx(d)]!.rawNode.status();
    if (st.progress !== null) {
      const ids = sortIds(st.progress.keys());
      for (const id of ids) this.output.write(`${id}: ${st.progress.get(id)!.toString()}\n`);
    }
    return null;
  }

  private tick(idx: number, n: number): void {
    for (let i = 0; i < n; i++) this.nodes[idx]!.rawNode.tick();
  }

  private handleTransferLeadership(d: TestData): Error | null {
    const from = this.scanUint(d, "from");
    const to = this.scanUint(d, "to");
    if (from === 0 || from > this.nodes.length)
      throw new HarnessFatalError(`${d.pos}: expected valid "from" argument`);
    if (to === 0 || to > this.nodes.length)
      throw new HarnessFatalError(`${d.pos}: expected valid "to" argument`);
    this.nodes[from - 1]!.rawNode.transferLeader(BigInt(to));
    return null;
  }

  private handleSendSnapshot(d: TestData): Error | null {
    const idxs = this.nodeIdxs(d);
    if (idxs.length !== 2) throw new HarnessFatalError(`${d.pos}: send-snapshot needs exactly two nodes`);
    const [fromIdx, toIdx] = idxs as [number, number];
    const from = this.nodes[fromIdx]!;
    const snap = from.storage.snapshot();
    const m = messageOf(MessageType.MsgSnap, BigInt(fromIdx + 1), BigInt(toIdx + 1));
    m.term = from.rawNode.basicStatus().hardState.term;
    m.snapshot = snap;
    this.messages.push(m);
    this.output.write(describeMessage(m));
    return null;
  }

  private handlePropose(d: TestData): Error | null {
    const idx = this.firstAsNodeIdx(d);
    if (d.cmdArgs.length !== 2 || d.cmdArgs[1]!.vals.length > 0) {
      throw new HarnessFatalError(`${d.pos}: expected exactly one key with no vals`);
    }
    this.nodes[idx]!.rawNode.propose(utf8(d.cmdArgs[1]!.key));
    return null;
  }

  private handleProposeConfChange(d: TestData): Error | null {
    const idx = this.firstAsNodeIdx(d);
    let v1 = false;
    let transition: ConfChangeTransition = ConfChangeTransition.ConfChangeTransitionAuto;
    for (const arg of d.cmdArgs.slice(1)) {
      for (const v of arg.vals) {
        switch (arg.key) {
          case "v1":
            try {
              v1 = parseBool(v);
            } catch (e) {
              return e as Error;
            }
            break;
          case "transition":
            if (v === "auto") transition = ConfChangeTransition.ConfChangeTransitionAuto;
            else if (v === "implicit") transition = ConfChangeTransition.ConfChangeTransitionJointImplicit;
            else if (v === "explicit") transition = ConfChangeTransition.ConfChangeTransitionJointExplicit;
            else return new Error(`unknown transition ${v}`);
            break;
          default:
            return new Error(`unknown command ${arg.key}`);
        }
      }
    }
    const ccs = confChangesFromString(d.input);
    let c: ConfChangeI;
    if (v1) {
      if (ccs.length > 1 || transition !== ConfChangeTransition.ConfChangeTransitionAuto) {
        return new Error("v1 conf change can only have one operation and no transition");
      }
      if (ccs.length === 0) throw new HarnessFatalError(`${d.pos}: v1 conf change needs one operation`);
      c = new ConfChange(ccs[0]!.type, ccs[0]!.nodeId);
      c.present = (1 << 2) | (1 << 3);
    } else {
      c = new ConfChangeV2(ccs, transition);
    }
    this.nodes[idx]!.rawNode.proposeConfChange(c);
    return null;
  }

  private handleReportUnreachable(d: TestData): Error | null {
    const sl = this.nodeIdxs(d);
    if (sl.length !== 2) {
      return new Error("must specify exactly two node indexes: node on which to report, and reported node");
    }
    this.nodes[sl[0]!]!.rawNode.reportUnreachable(this.nodes[sl[1]!]!.id);
    return null;
  }

  /** read-index <n> <ctx>: node n requests a read index with context ctx. */
  private handleReadIndex(d: TestData): Error | null {
    const idx = this.firstAsNodeIdx(d);
    if (d.cmdArgs.length !== 2 || d.cmdArgs[1]!.vals.length > 0) {
      throw new HarnessFatalError(`${d.pos}: expected a node and one context`);
    }
    this.nodes[idx]!.rawNode.readIndex(utf8(d.cmdArgs[1]!.key));
    return null;
  }

  /** tick <n> [<m> ...] [count=N]: ticks each listed node N times (default 1), in turn. */
  private handleTick(d: TestData): Error | null {
    const idxs = this.nodeIdxs(d);
    const a = findArg(d, "count");
    const count = a === undefined ? 1 : parseInt10(a.vals[0] ?? "");
    for (let i = 0; i < count; i++) for (const idx of idxs) this.nodes[idx]!.rawNode.tick();
    return null;
  }

  /**
   * lease-state: per node, the strict-lease view (leader: the round a
   * quorum acknowledged, when it was sent, whether the lease holds, reads
   * served locally and through a round; others: the promise still held).
   */
  private handleLeaseState(): Error | null {
    for (const n of this.nodes) {
      const r = n.rawNode.raft;
      let line = `${r.id}: ${stateTypeNames[r.state]} clock=${r.leaseClock}`;
      const lease = r.lease;
      if (lease !== null) {
        const q = lease.quorumRound(r.trk.config.voters);
        const sent = q === 0 ? "-" : String(lease.tickOfRound(q));
        line +=
          ` round=${lease.round} quorum-round=${q} sent-at=${sent} holds=${r.leaseHolds()}` +
          ` local-reads=${r.leaseReadsLocal} round-reads=${r.leaseReadsFallback}`;
      } else {
        line += ` vote-hold=${r.voteHold}`;
      }
      this.output.write(`${line}\n`);
    }
    return null;
  }

  // ------------------------------------------------------------ procedures

  /** Runs f with its output indented by two spaces per line. */
  withIndent<T>(f: () => T): T {
    const orig = this.output.buf;
    this.output.buf = "";
    let inner = "";
    try {
      return f();
    } finally {
      inner = this.output.buf;
      let out = orig;
      if (inner.length > 0) {
        const lines = inner.split("\n");
        if (inner.endsWith("\n")) lines.pop();
        for (const l of lines) out += `  ${l}\n`;
      }
      this.output.buf = out;
    }
  }

  processReady(idx: number): Error | null {
    const n = this.nodes[idx]!;
    const rd = n.rawNode.ready();
    this.output.write(describeReady(rd, quoteBytes));
    const async = n.rawNode.asyncStorageWrites;
    if (!async) {
      let err = processAppend(n, rd.hardState, rd.entries, rd.snapshot);
      if (err !== null) return err;
      err = processApply(n, rd.committedEntries);
      if (err !== null) return err;
    }
    for (const m of rd.messages) {
      if (isLocalMsgTarget(m.to)) {
        if (!async) throw new HarnessFatalError("unexpected local msg target");
        if (m.type === MessageType.MsgStorageAppend) n.appendWork.push(m);
        else if (m.type === MessageType.MsgStorageApply) n.applyWork.push(m);
        else throw new HarnessFatalError(`unexpected message type ${m.type}`);
      } else {
        this.messages.push(m);
      }
    }
    if (!async) n.rawNode.advance(rd);
    return null;
  }

  /** Delivers (or drops) queued messages to the recipients; returns how many were handled. */
  deliverMsgs(typ: MessageType | -1, rs: readonly Recipient[]): number {
    let n = 0;
    for (const r of rs) {
      const [msgs, rest] = splitMsgs(this.messages, r.id, typ, r.drop);
      this.messages = rest;
      n += msgs.length;
      for (const m of msgs) {
        if (r.drop) {
          this.output.write(`dropped: ${describeMessage(m, quoteBytes)}\n`);
          continue;
        }
        this.output.write(`${describeMessage(m, quoteBytes)}\n`);
        try {
          this.nodes[Number(m.to) - 1]!.rawNode.step(m);
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
          this.output.write(`${e.message}\n`);
        }
      }
    }
    return n;
  }

  processAppendThread(idx: number): Error | null {
    const n = this.nodes[idx]!;
    return this.processStorageWork(n.appendWork, "append", (m) =>
      processAppend(n, new HardState(m.term, m.vote, m.commit), m.entries, m.snapshot),
    );
  }

  processApplyThread(idx: number): Error | null {
    const n = this.nodes[idx]!;
    return this.processStorageWork(n.applyWork, "apply", (m) => processApply(n, m.entries));
  }

  /**
   * Runs the oldest queued storage message of one thread, then queues its
   * responses for delivery (they are not stepped here).
   */
  private processStorageWork(
    queue: Message[],
    thread: string,
    work: (m: Message) => Error | null,
  ): Error | null {
    const next = queue.shift();
    if (next === undefined) {
      this.output.write(`no ${thread} work to perform`);
      return null;
    }
    const m = next.clone();
    const resps = m.responses;
    m.responses = [];
    this.output.write("Processing:\n");
    this.output.write(`${describeMessage(m, quoteBytes)}\n`);
    const err = work(m);
    if (err !== null) return err;
    this.output.write("Responses:\n");
    for (const r of resps) {
      this.output.write(`${describeMessage(r, quoteBytes)}\n`);
      this.messages.push(r);
    }
    return null;
  }

  /** Handles Readies, messages and storage work until nothing is left to do. */
  stabilize(idxs: readonly number[]): Error | null {
    const nodes = idxs.length > 0 ? idxs.map((i) => this.nodes[i]!) : this.nodes.slice();
    for (;;) {
      let done = true;
      for (const n of nodes) {
        if (n.rawNode.hasReady()) {
          const idx = Number(n.id) - 1;
          this.output.write(`> ${idx + 1} handling Ready\n`);
          const err = this.withIndent(() => this.processReady(idx));
          if (err !== null) return err;
          done = false;
        }
      }
      for (const n of nodes) {
        const id = n.id;
        if (this.messages.some((m) => m.to === id)) {
          this.output.write(`> ${id} receiving messages\n`);
          this.withIndent(() => this.deliverMsgs(-1, [{ id, drop: false }]));
          done = false;
        }
      }
      for (const n of nodes) {
        const idx = Number(n.id) - 1;
        if (n.appendWork.length > 0) {
          this.output.write(`> ${idx + 1} processing append thread\n`);
          while (n.appendWork.length > 0) {
            const err = this.withIndent(() => this.processAppendThread(idx));
            if (err !== null) return err;
          }
          done = false;
        }
      }
      for (const n of nodes) {
        const idx = Number(n.id) - 1;
        if (n.applyWork.length > 0) {
          this.output.write(`> ${idx + 1} processing apply thread\n`);
          while (n.applyWork.length > 0) this.withIndent(() => this.processApplyThread(idx));
          done = false;
        }
      }
      if (done) return null;
    }
  }
}

function messageOf(type: MessageType, from: bigint, to: bigint): Message {
  const m = new Message();
  m.type = type;
  m.from = from;
  m.to = to;
  return m;
}

function splitMsgs(
  msgs: readonly Message[],
  to: bigint,
  typ: MessageType | -1,
  drop: boolean,
): [Message[], Message[]] {
  const toMsgs: Message[] = [];
  const rest: Message[] = [];
  for (const m of msgs) {
    if (m.to === to && !(drop && isLocalMessage(m)) && (typ === -1 || m.type === typ)) toMsgs.push(m);
    else rest.push(m);
  }
  return [toMsgs, rest];
}

/** Persists a Ready's (or MsgStorageAppend's) state into the node's MemoryStorage. */
function processAppend(
  n: InteractionNode,
  st: HardState,
  ents: Entry[],
  snap: Snapshot | null,
): Error | null {
  const s = n.storage;
  if (!isEmptyHardState(st)) s.setHardState(st);
  if (!isEmptySnap(snap)) {
    if (ents.length > 0) return new Error("can't apply snapshot and entries at the same time");
    try {
      s.applySnapshot(snap!);
    } catch (e) {
      if (e instanceof RaftError) return e;
      throw e;
    }
    return null;
  }
  s.append(ents);
  return null;
}

/**
 * Applies committed entries to the node's "appender" state machine: each
 * entry appends its payload to the previous snapshot's data, and the result
 * is recorded in the node's History.
 */
function processApply(n: InteractionNode, ents: readonly Entry[]): Error | null {
  for (const e of ents) {
    let update: Uint8Array;
    let cs: ConfState | null = null;
    if (e.type === EntryType.EntryConfChange) {
      const cc = decodeConfChange(e.data);
      update = cc.context;
      cs = n.rawNode.applyConfChange(cc);
    } else if (e.type === EntryType.EntryConfChangeV2) {
      const cc = decodeConfChangeV2(e.data);
      cs = n.rawNode.applyConfChange(cc);
      update = cc.context;
    } else {
      update = e.data;
    }
    const last = n.history[n.history.length - 1]!;
    const data = new Uint8Array(last.data.length + update.length);
    data.set(last.data);
    data.set(update, last.data.length);
    const prevCs = cloneSnapshot(last).metadata.confState;
    n.history.push(new Snapshot(data, new SnapshotMetadata(cs ?? prevCs, e.index, e.term)));
  }
  return null;
}
