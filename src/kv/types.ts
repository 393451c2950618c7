// Shapes shared by the key-value server's layers.

/** A key's current version, as the HTTP API shows it. */
export interface KeyValue {
  key: string;
  value: Uint8Array;
  /** Revision of the write that created the key. */
  createRevision: number;
  /** Revision of the last write to the key. */
  modRevision: number;
  /** Number of writes since creation. */
  version: number;
  /** The lease the key is attached to (0 = none). */
  lease?: bigint;
}

/** One page of a range read. */
export interface RangePage {
  kvs: KeyValue[];
  /** More keys follow: ask again with `after` = the last key of this page. */
  more: boolean;
  /** The store's revision the page was read at. */
  revision: number;
}

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
  /** Keys with `prefix` in byte order, strictly after `after` when given; at most `limit`. */
  range(prefix: string, page: { limit: number; after?: string }, opts: ReadOptions): Promise<RangePage>;
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
