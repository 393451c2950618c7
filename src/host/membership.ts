// The replicated membership: who the members are (ID, name, peer and client
// URLs, learner or voter) and which IDs were removed. raft's ConfState only
// knows IDs; the rest travels in the ConfChange's context as etcd writes it
// (the JSON of etcd's membership.Member), and in the snapshot metadata.

import {
  type ConfChange,
  ConfChangeType,
  compareIds,
  formatId,
  parseDecimalId,
  parseHexId,
} from "../raftpb/index.ts";
import type { MemberInfo } from "./types.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * etcd's member JSON, used as ConfChange context: `{"id":<decimal uint64>,
 * "peerURLs":[...],"name":"...","clientURLs":[...],"isLearner":true}`. etcd
 * writes the ID as a JSON number; above 2^53 JSON.parse would round it, so
 * it is written and read as text.
 */
export function encodeMemberContext(m: MemberInfo): Uint8Array {
  let s = `{"id":${m.id.toString(10)},"peerURLs":${JSON.stringify(m.peerURLs)}`;
  if (m.name !== "") s += `,"name":${JSON.stringify(m.name)}`;
  if (m.clientURLs.length > 0) s += `,"clientURLs":${JSON.stringify(m.clientURLs)}`;
  if (m.isLearner) s += `,"isLearner":true`;
  return enc.encode(`${s}}`);
}

/** Parses a member JSON context (ours or etcd's); undefined when it is not one. */
export function decodeMemberContext(b: Uint8Array): MemberInfo | undefined {
  if (b.length === 0) return undefined;
  const text = dec.decode(b);
  const idMatch = /"id"\s*:\s*"?([0-9]+)"?/.exec(text);
  let j: { peerURLs?: unknown; name?: unknown; clientURLs?: unknown; isLearner?: unknown };
  try {
    j = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (idMatch === null || typeof j !== "object" || j === null) return undefined;
  let id: bigint;
  try {
    id = parseDecimalId(idMatch[1]!);
  } catch {
    return undefined;
  }
  const strings = (v: unknown): string[] =>
    Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
  return {
    id,
    name: typeof j.name === "string" ? j.name : "",
    peerURLs: strings(j.peerURLs),
    clientURLs: strings(j.clientURLs),
    isLearner: j.isLearner === true,
  };
}

export interface MembershipChange {
  /** The member added, promoted or updated (undefined for a removal). */
  member?: MemberInfo;
  removedId?: bigint;
}

export class Membership {
  private readonly byId = new Map<bigint, MemberInfo>();
  private readonly removedIds = new Set<bigint>();

  /** Members in ascending ID order (copies). */
  list(): MemberInfo[] {
    return [...this.byId.values()].sort((a, b) => compareIds(a.id, b.id)).map(copy);
  }

  get(id: bigint): MemberInfo | undefined {
    return this.byId.get(id);
  }

  has(id: bigint): boolean {
    return this.byId.has(id);
  }

  isRemoved(id: bigint): boolean {
    return this.removedIds.has(id);
  }

  /** Voters, ascending. */
  voters(): MemberInfo[] {
    return this.list().filter((m) => !m.isLearner);
  }

  set(m: MemberInfo): void {
    this.byId.set(m.id, copy(m));
  }

  /** The member using any of these peer URLs, if one does. */
  byPeerURL(urls: readonly string[]): MemberInfo | undefined {
    for (const m of this.byId.values()) if (m.peerURLs.some((u) => urls.includes(u))) return m;
    return undefined;
  }

  /**
   * Applies a committed V1 conf change to the member records (raft's own
   * configuration is changed separately by Node.applyConfChange). Returns
   * what changed.
   */
  apply(cc: ConfChange): MembershipChange {
    const id = cc.nodeId;
    const ctx = decodeMemberContext(cc.context);
    switch (cc.type) {
      case ConfChangeType.ConfChangeAddNode:
      case ConfChangeType.ConfChangeAddLearnerNode: {
        const prev = this.byId.get(id);
        const m: MemberInfo = {
          id,
          name: ctx?.name || prev?.name || "",
          peerURLs: ctx !== undefined && ctx.peerURLs.length > 0 ? ctx.peerURLs : (prev?.peerURLs ?? []),
          clientURLs:
            ctx !== undefined && ctx.clientURLs.length > 0 ? ctx.clientURLs : (prev?.clientURLs ?? []),
          isLearner: cc.type === ConfChangeType.ConfChangeAddLearnerNode,
        };
        this.byId.set(id, m);
        this.removedIds.delete(id);
        return { member: copy(m) };
      }
      case ConfChangeType.ConfChangeRemoveNode:
        this.byId.delete(id);
        this.removedIds.add(id);
        return { removedId: id };
      case ConfChangeType.ConfChangeUpdateNode: {
        const prev = this.byId.get(id);
        if (prev === undefined || ctx === undefined) return {};
        prev.peerURLs = ctx.peerURLs.length > 0 ? ctx.peerURLs : prev.peerURLs;
        return { member: copy(prev) };
      }
      default:
        return {};
    }
  }

  /** Records a member's published name and client URLs (etcd's attribute update). */
  setAttributes(id: bigint, name: string, clientURLs: string[]): MemberInfo | undefined {
    const m = this.byId.get(id);
    if (m === undefined) return undefined;
    m.name = name;
    m.clientURLs = [...clientURLs];
    return copy(m);
  }

  /** The membership as snapshot metadata (JSON with hex IDs; small and rare, so JSON is fine). */
  encode(): Uint8Array {
    return enc.encode(
      JSON.stringify({
        v: 1,
        members: this.list().map((m) => ({ ...m, id: formatId(m.id) })),
        removed: [...this.removedIds].sort(compareIds).map(formatId),
      }),
    );
  }

  /** Replaces the membership with one encoded by encode(); throws on anything else. */
  restore(b: Uint8Array): void {
    const j = JSON.parse(dec.decode(b)) as {
      v?: number;
      members?: Array<Omit<MemberInfo, "id"> & { id: string }>;
      removed?: string[];
    };
    if (j.v !== 1 || !Array.isArray(j.members) || !Array.isArray(j.removed)) {
      throw new Error("snapshot metadata is not a tsraft host membership (v1)");
    }
    this.byId.clear();
    this.removedIds.clear();
    for (const m of j.members) this.byId.set(parseHexId(m.id), { ...m, id: parseHexId(m.id) });
    for (const id of j.removed) this.removedIds.add(parseHexId(id));
  }
}

function copy(m: MemberInfo): MemberInfo {
  return { ...m, peerURLs: [...m.peerURLs], clientURLs: [...m.clientURLs] };
}
