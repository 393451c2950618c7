// Shapes shared by the key-value server's layers.

import type { KeyValue } from "./store.ts";

/** A cluster member as recorded in the replicated membership. */
export interface MemberInfo {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface WriteResult {
  revision: number;
  prevRevision: number;
}

export interface ReadOptions {
  /** Linearizable (ReadIndex through the leader) unless false. */
  linearizable: boolean;
  signal?: AbortSignal;
}

export interface WriteOptions {
  /** Compare-and-swap: the key's mod revision must equal this (0 = key must not exist). */
  expectedRevision?: number;
  signal?: AbortSignal;
}

/** Per-follower replication state as the leader sees it. */
export interface FollowerProgress {
  /** Member ID in hex. */
  id: string;
  match: number;
  next: number;
  state: "probe" | "replicate" | "snapshot";
  paused: boolean;
  recentActive: boolean;
  isLearner: boolean;
}

export interface ServerStatus {
  id: string;
  name: string;
  leader: string;
  term: number;
  vote: string;
  commit: number;
  applied: number;
  revision: number;
  raftState: "follower" | "candidate" | "leader" | "pre-candidate";
  isLearner: boolean;
  /** Present on the leader. */
  progress?: FollowerProgress[];
  members: Array<Omit<MemberInfo, "id"> & { id: string }>;
  keys: number;
  snapshotIndex: number;
}

/** What the HTTP API needs from a member. */
export interface KvBackend {
  put(key: string, value: Uint8Array, opts: WriteOptions): Promise<WriteResult>;
  delete(key: string, opts: WriteOptions): Promise<WriteResult>;
  get(key: string, opts: ReadOptions): Promise<{ kv: KeyValue | undefined; revision: number }>;
  range(prefix: string, limit: number, opts: ReadOptions): Promise<{ kvs: KeyValue[]; revision: number }>;
  members(): MemberInfo[];
  /** The cluster ID in hex (returned to joining members). */
  clusterIdHex(): string;
  addMember(
    peerURLs: string[],
    opts: { name?: string; learner: boolean; clientURLs?: string[] },
  ): Promise<MemberInfo>;
  removeMember(id: bigint): Promise<void>;
  promoteMember(id: bigint): Promise<void>;
  transferLeader(to: bigint, signal?: AbortSignal): Promise<void>;
  status(): ServerStatus;
  /** Null when healthy, else the reason. */
  unhealthyReason(): string | null;
  metricsText(): Promise<string>;
  /** Called once per answered request (for latency metrics). */
  observeRequest?(op: string, status: number, seconds: number): void;
  /** Serves the dashboard and its event stream; false if the path is not the dashboard's. */
  serveDashboard?(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse): boolean;
}
