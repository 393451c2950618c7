// A history: every client operation with the times it was invoked and
// completed and what came of it, as Jepsen records them.
//
// Outcomes follow Jepsen's three-valued convention:
//   ok    the operation took effect (a read returned this value);
//   fail  it certainly did not take effect. For a compare-and-swap `fail`
//         with error REVISION_MISMATCH (HTTP 412) also tells something: the
//         register did not hold `from` at some instant of the operation;
//   info  unknown (timeout, reset connection, 5xx): it may take effect at any
//         instant after its invocation, or never.
//
// Registers hold strings; `null` is an absent key. Every write of a run writes
// a value no other write uses, so a value names the write that produced it
// (the checker relies on this only for its revision cross-check).
//
// On disk a history is JSON lines: an optional first line `{"meta": {...}}`,
// then one operation per line (the fields of `Op`), in any order.

import { readFileSync, writeFileSync } from "node:fs";
import { HistoryFormatError } from "./errors.ts";

export type OpFn = "read" | "write" | "cas";
export type OpType = "ok" | "fail" | "info";

/** The error a compare-and-swap gets when the register did not hold its expected value. */
export const CAS_MISMATCH = "REVISION_MISMATCH";

export interface Op {
  /** Position in the history (unique); explanations cite it. */
  index: number;
  /** The client that issued it (-1: the harness's final reads). */
  process: number;
  key: string;
  f: OpFn;
  /** read: the value read (null: absent; null when not ok); write: the value written; cas: the new value. */
  value: string | null;
  /** cas only: the value expected (null: the key must be absent). */
  from?: string | null;
  type: OpType;
  /** Milliseconds since the run began (monotonic clock of the harness). */
  invoke: number;
  /** When the answer arrived, or (info) when the client gave up. */
  complete: number;
  /** The member the request went to. */
  node?: string;
  /** ok read: the key's mod revision; ok write/cas: the revision the write created. */
  revision?: number;
  /** cas: the mod revision sent in If-Match (0 with If-None-Match: *). */
  expectRevision?: number;
  /** cas refused with REVISION_MISMATCH: the key's mod revision the server reported (0: absent). */
  seenRevision?: number;
  /** fail/info: the reason (HTTP error code, ECONNREFUSED, timeout, ...). */
  error?: string;
}

export interface HistoryMeta {
  [k: string]: unknown;
}

export interface History {
  meta: HistoryMeta;
  ops: Op[];
}

const FNS = new Set<string>(["read", "write", "cas"]);
const TYPES = new Set<string>(["ok", "fail", "info"]);

function isValue(v: unknown): v is string | null {
  return v === null || typeof v === "string";
}

/** Checks one decoded operation; throws HistoryFormatError naming the problem. */
export function validateOp(o: unknown, line = 0): Op {
  const bad = (msg: string): never => {
    throw new HistoryFormatError(msg, line);
  };
  if (typeof o !== "object" || o === null || Array.isArray(o)) bad("an operation must be a JSON object");
  const r = o as Record<string, unknown>;
  if (!Number.isSafeInteger(r.index)) bad("index must be an integer");
  if (!Number.isSafeInteger(r.process)) bad("process must be an integer");
  if (typeof r.key !== "string") bad("key must be a string");
  if (typeof r.f !== "string" || !FNS.has(r.f))
    bad(`f must be read, write or cas, got ${JSON.stringify(r.f)}`);
  if (typeof r.type !== "string" || !TYPES.has(r.type))
    bad(`type must be ok, fail or info, got ${JSON.stringify(r.type)}`);
  if (!isValue(r.value)) bad("value must be a string or null");
  if (typeof r.invoke !== "number" || !Number.isFinite(r.invoke)) bad("invoke must be a finite number");
  if (typeof r.complete !== "number" || !Number.isFinite(r.complete)) bad("complete must be a finite number");
  if ((r.complete as number) < (r.invoke as number)) bad("complete is before invoke");
  if (r.f === "cas") {
    if (!("from" in r) || !isValue(r.from)) bad("a cas needs from (a string or null)");
    if (r.value === null) bad("a cas must write a value");
  } else if (r.from !== undefined) bad("only a cas has from");
  if (r.f === "write" && r.value === null) bad("a write must write a value");
  for (const k of ["revision", "expectRevision", "seenRevision"] as const)
    if (r[k] !== undefined && !Number.isSafeInteger(r[k])) bad(`${k} must be an integer`);
  for (const k of ["node", "error"] as const)
    if (r[k] !== undefined && typeof r[k] !== "string") bad(`${k} must be a string`);
  return r as unknown as Op;
}

/** Parses a JSON-lines history. */
export function parseHistory(text: string): History {
  let meta: HistoryMeta = {};
  const ops: Op[] = [];
  const seen = new Set<number>();
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === "") continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new HistoryFormatError(`not JSON: ${(e as Error).message}`, i + 1);
    }
    if (typeof v === "object" && v !== null && "meta" in v) {
      if (ops.length > 0) throw new HistoryFormatError("the meta line must come first", i + 1);
      meta = (v as { meta: HistoryMeta }).meta;
      continue;
    }
    const op = validateOp(v, i + 1);
    if (seen.has(op.index)) throw new HistoryFormatError(`duplicate index ${op.index}`, i + 1);
    seen.add(op.index);
    ops.push(op);
  }
  return { meta, ops };
}

export function formatHistory(h: History): string {
  const out = [JSON.stringify({ meta: h.meta })];
  for (const op of h.ops) out.push(JSON.stringify(op));
  return `${out.join("\n")}\n`;
}

export function readHistoryFile(path: string): History {
  return parseHistory(readFileSync(path, "utf8"));
}

export function writeHistoryFile(path: string, h: History): void {
  writeFileSync(path, formatHistory(h));
}

/** A register value for humans: strings quoted, null as (absent). */
export function showValue(v: string | null | undefined): string {
  return v === null || v === undefined ? "(absent)" : JSON.stringify(v);
}

/** One line describing an operation, as explanations print it. */
export function describeOp(op: Op): string {
  const t = `[${op.invoke.toFixed(1)}, ${op.type === "info" ? "∞" : op.complete.toFixed(1)}] ms`;
  let what: string;
  switch (op.f) {
    case "read":
      what = op.type === "ok" ? `read → ${showValue(op.value)}` : "read";
      break;
    case "write":
      what = `write ${showValue(op.value)}`;
      break;
    case "cas":
      what = `cas ${showValue(op.from)} → ${showValue(op.value)}`;
      break;
  }
  const who = op.process < 0 ? "final" : `c${op.process}`;
  const extra = [
    op.node !== undefined ? `via ${op.node}` : "",
    op.revision !== undefined ? `rev ${op.revision}` : "",
    op.expectRevision !== undefined ? `if-match ${op.expectRevision}` : "",
    op.error !== undefined ? op.error : "",
  ].filter((s) => s !== "");
  return `#${op.index} ${who} ${what} ${op.type.toUpperCase()} ${t}${extra.length > 0 ? ` (${extra.join(", ")})` : ""}`;
}
