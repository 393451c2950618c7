// Human-readable descriptions of raftpb values, in exactly the formats etcd
// prints in its data-driven test output and its log lines.

import { decodeConfChange, decodeConfChangeV2 } from "./codec.ts";
import { asV2, confChangesToString } from "./confchange.ts";
import { quoteBytes } from "./quote.ts";
import {
  type ConfState,
  type Entry,
  EntryType,
  entryTypeNames,
  type HardState,
  isEmptySnap,
  LocalAppendThread,
  LocalApplyThread,
  type Message,
  messageTypeNames,
  None,
  type Snapshot,
} from "./types.ts";

/** Renders an entry's payload; the default is Go's %q. */
export type EntryFormatter = (data: Uint8Array) => string;

export function describeHardState(hs: HardState): string {
  let out = `Term:${hs.term}`;
  if (hs.vote !== 0n) out += ` Vote:${hs.vote}`;
  return `${out} Commit:${hs.commit}`;
}

function goList(l: readonly bigint[]): string {
  return `[${l.join(" ")}]`;
}

export function describeConfState(cs: ConfState): string {
  return (
    `Voters:${goList(cs.voters)} VotersOutgoing:${goList(cs.votersOutgoing)} ` +
    `Learners:${goList(cs.learners)} LearnersNext:${goList(cs.learnersNext)} AutoLeave:${cs.autoLeave}`
  );
}

export function describeSnapshot(s: Snapshot): string {
  const m = s.metadata;
  return `Index:${m.index} Term:${m.term} ConfState:${describeConfState(m.confState)}`;
}

export function describeTarget(id: bigint): string {
  if (id === None) return "None";
  if (id === LocalAppendThread) return "AppendThread";
  if (id === LocalApplyThread) return "ApplyThread";
  return id.toString(16);
}

export function describeEntry(e: Entry, f?: EntryFormatter): string {
  let formatted: string;
  try {
    switch (e.type) {
      case EntryType.EntryNormal:
        formatted = (f ?? quoteBytes)(e.data);
        break;
      case EntryType.EntryConfChange:
        formatted = confChangesToString(asV2(decodeConfChange(e.data)).changes);
        break;
      case EntryType.EntryConfChangeV2:
        formatted = confChangesToString(decodeConfChangeV2(e.data).changes);
        break;
      default:
        formatted = "";
    }
  } catch (err) {
    formatted = err instanceof Error ? err.message : String(err);
  }
  if (formatted !== "") formatted = ` ${formatted}`;
  return `${e.term}/${e.index} ${entryTypeNames[e.type] ?? `EntryType(${e.type})`}${formatted}`;
}

export function describeEntries(ents: readonly Entry[], f?: EntryFormatter): string {
  let out = "";
  for (const e of ents) out += `${describeEntry(e, f)}\n`;
  return out;
}

export function describeMessage(m: Message, f?: EntryFormatter): string {
  return describeMessageWithIndent("", m, f);
}

function describeMessageWithIndent(indent: string, m: Message, f?: EntryFormatter): string {
  let out =
    `${indent}${describeTarget(m.from)}->${describeTarget(m.to)} ${messageTypeNames[m.type]} ` +
    `Term:${m.term} Log:${m.logTerm}/${m.index}`;
  if (m.reject) out += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.commit !== 0) out += ` Commit:${m.commit}`;
  if (m.vote !== 0n) out += ` Vote:${m.vote}`;
  const ents = m.entries;
  if (ents.length === 1) {
    out += ` Entries:[${describeEntry(ents[0]!, f)}]`;
  } else if (ents.length > 1) {
    out += " Entries:[";
    for (const e of ents) out += `\n${indent}  ${describeEntry(e, f)}`;
    out += `\n${indent}]`;
  }
  if (m.snapshot !== null && !isEmptySnap(m.snapshot)) {
    out += `\n${indent}  Snapshot: ${describeSnapshot(m.snapshot)}`;
  }
  if (m.responses.length > 0) {
    out += " Responses:[";
    for (const r of m.responses) out += `\n${describeMessageWithIndent(`${indent}  `, r, f)}`;
    out += `\n${indent}]`;
  }
  return out;
}
