// Helpers over the two membership-change forms (V1 ConfChange and
// ConfChangeV2): conversion, joint-consensus classification, and the compact
// text form used by etcd's test files ("v1 l2 r3 u4").

import { encodeConfChange, encodeConfChangeV2 } from "./codec.ts";
import { sortIds } from "./ids.ts";
import { quoteBytes } from "./quote.ts";
import {
  ConfChange,
  type ConfChangeI,
  ConfChangeSingle,
  ConfChangeTransition,
  ConfChangeType,
  ConfChangeV2,
  type ConfState,
  confChangeTransitionNames,
  confChangeTypeNames,
  EntryType,
} from "./types.ts";
import { MAX_UINT64 } from "./wire.ts";

/** Thrown by `confChangesFromString` for text it cannot parse. */
export class ConfChangeParseError extends Error {
  readonly code = "ERR_CONF_CHANGE_PARSE";
  constructor(message: string) {
    super(message);
    this.name = "ConfChangeParseError";
  }
}

export function isConfChangeV2(cc: ConfChangeI): cc is ConfChangeV2 {
  return cc instanceof ConfChangeV2;
}

/** The V2 form of either kind of change (a V1 change becomes one single change). */
export function asV2(cc: ConfChangeI): ConfChangeV2 {
  if (cc instanceof ConfChangeV2) return cc;
  const single = new ConfChangeSingle(cc.type, cc.nodeId);
  single.present = (1 << 1) | (1 << 2);
  const v2 = new ConfChangeV2([single], ConfChangeTransition.ConfChangeTransitionAuto, cc.context);
  if ((cc.present & (1 << 4)) !== 0) v2.present |= 1 << 3;
  return v2;
}

/** The V1 change, or undefined for a V2 change. */
export function asV1(cc: ConfChangeI): ConfChange | undefined {
  return cc instanceof ConfChange ? cc : undefined;
}

/**
 * Whether the change uses joint consensus (more than one change, or an explicit
 * joint transition) and, if so, whether the joint state is left automatically.
 */
export function enterJoint(cc: ConfChangeV2): { autoLeave: boolean; ok: boolean } {
  if (cc.transition !== ConfChangeTransition.ConfChangeTransitionAuto || cc.changes.length > 1) {
    switch (cc.transition) {
      case ConfChangeTransition.ConfChangeTransitionAuto:
      case ConfChangeTransition.ConfChangeTransitionJointImplicit:
        return { autoLeave: true, ok: true };
      case ConfChangeTransition.ConfChangeTransitionJointExplicit:
        return { autoLeave: false, ok: true };
      default:
        throw new Error(`unknown transition: ${cc.transition}`);
    }
  }
  return { autoLeave: false, ok: false };
}

/** True for the empty change that leaves a joint configuration (the context may be set). */
export function leaveJoint(cc: ConfChangeV2): boolean {
  return cc.transition === ConfChangeTransition.ConfChangeTransitionAuto && cc.changes.length === 0;
}

/** The entry type and payload carrying a change in the log. */
export function marshalConfChange(cc: ConfChangeI | null): { type: EntryType; data: Uint8Array } {
  if (cc === null) return { type: EntryType.EntryConfChangeV2, data: new Uint8Array(0) };
  if (cc instanceof ConfChange) return { type: EntryType.EntryConfChange, data: encodeConfChange(cc) };
  return { type: EntryType.EntryConfChangeV2, data: encodeConfChangeV2(cc) };
}

/** Parses "v1 l2 r3 u4" (voter, learner, remove, update) into single changes. */
export function confChangesFromString(s: string): ConfChangeSingle[] {
  const out: ConfChangeSingle[] = [];
  const trimmed = s.trim();
  if (trimmed === "") return out;
  for (const tok of trimmed.split(" ")) {
    if (tok.length < 2) throw new ConfChangeParseError(`unknown token ${tok}`);
    let type: ConfChangeType;
    switch (tok[0]) {
      case "v":
        type = ConfChangeType.ConfChangeAddNode;
        break;
      case "l":
        type = ConfChangeType.ConfChangeAddLearnerNode;
        break;
      case "r":
        type = ConfChangeType.ConfChangeRemoveNode;
        break;
      case "u":
        type = ConfChangeType.ConfChangeUpdateNode;
        break;
      default:
        throw new ConfChangeParseError(`unknown input: ${tok}`);
    }
    const id = parseUint64(tok.slice(1));
    const c = new ConfChangeSingle(type, id);
    c.present = (1 << 1) | (1 << 2);
    out.push(c);
  }
  return out;
}

/** Go's strconv.ParseUint(s, 10, 64) as a node ID, with Go's error text. */
export function parseUint64(s: string): bigint {
  if (!/^[0-9]+$/.test(s))
    throw new ConfChangeParseError(`strconv.ParseUint: parsing ${goQuote(s)}: invalid syntax`);
  const v = BigInt(s);
  if (v > MAX_UINT64) {
    throw new ConfChangeParseError(`strconv.ParseUint: parsing ${goQuote(s)}: value out of range`);
  }
  return v;
}

function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** The inverse of `confChangesFromString`. */
export function confChangesToString(ccs: readonly ConfChangeSingle[]): string {
  let out = "";
  for (let i = 0; i < ccs.length; i++) {
    const cc = ccs[i]!;
    if (i > 0) out += " ";
    switch (cc.type) {
      case ConfChangeType.ConfChangeAddNode:
        out += "v";
        break;
      case ConfChangeType.ConfChangeAddLearnerNode:
        out += "l";
        break;
      case ConfChangeType.ConfChangeRemoveNode:
        out += "r";
        break;
      case ConfChangeType.ConfChangeUpdateNode:
        out += "u";
        break;
      default:
        out += "unknown";
    }
    out += String(cc.nodeId);
  }
  return out;
}

/** The text form etcd logs when it ignores a proposed change. */
export function describeConfChange(cc: ConfChangeI): string {
  const v2 = asV2(cc);
  let out = `transition:${confChangeTransitionNames[v2.transition]}`;
  for (const c of v2.changes) out += ` changes:{type:${confChangeTypeNames[c.type]} node_id:${c.nodeId}}`;
  if (v2.context.length > 0) out += ` context:${quoteBytes(v2.context)}`;
  return out;
}

/** Builds a V1 or V2 change from the text form (helper for tests and tools). */
export function confChangeFromString(
  s: string,
  opts: { v1?: boolean; transition?: ConfChangeTransition } = {},
): ConfChangeI {
  const changes = confChangesFromString(s);
  if (opts.v1) {
    const c = changes[0];
    return new ConfChange(c?.type ?? ConfChangeType.ConfChangeAddNode, c?.nodeId ?? 0n);
  }
  return new ConfChangeV2(changes, opts.transition ?? ConfChangeTransition.ConfChangeTransitionAuto);
}

/**
 * Returns an error message if the two ConfStates differ in membership (order
 * of the lists does not matter), or undefined if they are equivalent.
 */
export function confStatesEquivalent(a: ConfState, b: ConfState): string | undefined {
  const norm = (cs: ConfState) =>
    `${[cs.voters, cs.learners, cs.votersOutgoing, cs.learnersNext]
      .map((l) => sortIds(l).join(","))
      .join("|")}|${cs.autoLeave}`;
  const na = norm(a);
  const nb = norm(b);
  return na === nb ? undefined : `ConfStates not equivalent after sorting:\n${na}\n${nb}`;
}
