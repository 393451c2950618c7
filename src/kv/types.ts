// Shapes shared by the key-value server's layers.

/** A key's current version, as the HTTP API shows it. */
export interface KeyValue {
  /** The key; a key that is not valid UTF-8 (written through gRPC) shows as `base64:` + its bytes. */
  key: string;
  /** The value's bytes. */
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
  /** The keys of this page, in byte order. */
  kvs: KeyValue[];
  /** More keys follow: ask again with `after` = the last key of this page. */
  more: boolean;
  /** The store's revision the page was read at. */
  revision: number;
}

/** A cluster member as recorded in the replicated membership. */
export interface MemberInfo {
  /** Member ID (64-bit, as etcd derives it). */
  id: bigint;
  /** Its name; empty for a member added at run time until it has started. */
  name: string;
  /** URLs the other members dial. */
  peerURLs: string[];
  /** Its client API URLs (empty until it has started and published them). */
  clientURLs: string[];
  /** A non-voting member. */
  isLearner: boolean;
}

/** The outcome of a put or delete that was applied. */
export interface WriteResult {
  /** The store's revision after this write (etcd's header revision). */
  revision: number;
  /** The key's mod revision before the write (0: it did not exist). */
  prevRevision: number;
}

/** Options of a read. */
export interface ReadOptions {
  /** Linearizable (ReadIndex through the leader) unless false: then this member's state, maybe stale. */
  linearizable: boolean;
  /** Aborts the wait (KvError TIMEOUT); default: the member's `limits.requestTimeoutMs`. */
  signal?: AbortSignal;
}

/** Options of a put or delete. */
export interface WriteOptions {
  /** Compare-and-swap: the key's mod revision must equal this (0 = key must not exist). */
  expectedRevision?: number;
  /** Aborts the wait (KvError TIMEOUT, `maybeApplied: true`): the write may still be applied. */
  signal?: AbortSignal;
}

/** Per-follower replication state as the leader sees it. */
export interface FollowerProgress {
  /** Member ID in hex. */
  id: string;
  /** Highest log index known to be replicated on it. */
  match: number;
  /** Index of the next entry the leader will send it. */
  next: number;
  /** raft's replication state: probing for the match, streaming entries, or sending a snapshot. */
  state: "probe" | "replicate" | "snapshot";
  /** Appends held back for now (a probe awaiting an answer, a full in-flight window, a snapshot). */
  paused: boolean;
  /** The leader heard from it within the last election timeout. */
  recentActive: boolean;
  /** It is a learner (non-voting). */
  isLearner: boolean;
}

/** A member's status as GET /status returns it (IDs in hex, as etcd prints them; "0": none). */
export interface ServerStatus {
  /** This member's ID. */
  id: string;
  /** This member's name. */
  name: string;
  /** The leader this member knows of ("0": none). */
  leader: string;
  /** Current raft term. */
  term: number;
  /** Whom this member voted for in `term` ("0": nobody). */
  vote: string;
  /** Highest log index known to be committed. */
  commit: number;
  /** Highest log index applied (≤ commit). */
  applied: number;
  /** The key-value store's revision (etcd's header revision). */
  revision: number;
  /** This member's raft role. */
  raftState: "follower" | "candidate" | "leader" | "pre-candidate";
  /** Whether this member is a learner. */
  isLearner: boolean;
  /** Present on the leader. */
  progress?: FollowerProgress[];
  /** The applied membership. */
  members: Array<Omit<MemberInfo, "id"> & { id: string }>;
  /** Number of live keys in the store. */
  keys: number;
  /** Log index of the newest snapshot on disk (0: none yet). */
  snapshotIndex: number;
}

/** What the HTTP API needs from a member. */
export interface KvBackend {
  /**
   * Writes `value` under `key` once applied. Rejects with a KvError:
   * REVISION_MISMATCH (412, `details.modRevision`) when `expectedRevision`
   * does not match, BAD_REQUEST, NO_LEADER / PROPOSAL_DROPPED / STOPPED (503),
   * TIMEOUT (504); `details.maybeApplied` says whether a failed write may
   * still take effect.
   */
  put(key: string, value: Uint8Array, opts: WriteOptions): Promise<WriteResult>;
  /** Deletes `key` once applied; KEY_NOT_FOUND (404) when it does not exist, other errors as put. */
  delete(key: string, opts: WriteOptions): Promise<WriteResult>;
  /** Reads one key (undefined: absent) and the store revision it was read at; KvError NO_LEADER/TIMEOUT. */
  get(key: string, opts: ReadOptions): Promise<{ kv: KeyValue | undefined; revision: number }>;
  /** Keys with `prefix` in byte order, strictly after `after` when given; at most `limit`. */
  range(prefix: string, page: { limit: number; after?: string }, opts: ReadOptions): Promise<RangePage>;
  /** The applied membership, in ID order. */
  members(): MemberInfo[];
  /** The cluster ID in hex (returned to joining members). */
  clusterIdHex(): string;
  /**
   * Adds a member (a learner with `learner: true`) and resolves once the
   * change is applied here; KvError MEMBER_EXISTS (409), UNSAFE_RECONFIGURATION
   * (409), NO_LEADER (503).
   */
  addMember(
    peerURLs: string[],
    opts: { name?: string; learner: boolean; clientURLs?: string[] },
  ): Promise<MemberInfo>;
  /** Removes a member once applied; KvError MEMBER_NOT_FOUND (404), UNSAFE_RECONFIGURATION (409). */
  removeMember(id: bigint): Promise<void>;
  /** Promotes a learner (forwarded to the leader); KvError LEARNER_NOT_READY (412), MEMBER_NOT_FOUND. */
  promoteMember(id: bigint): Promise<void>;
  /** Hands leadership to `to` (forwarded to the leader); resolves once it leads; KvError TIMEOUT. */
  transferLeader(to: bigint, signal?: AbortSignal): Promise<void>;
  /** This member's status (GET /status). */
  status(): ServerStatus;
  /** Null when healthy, else the reason. */
  unhealthyReason(): string | null;
  /** The Prometheus text exposition of the member's metrics (GET /metrics). */
  metricsText(): Promise<string>;
  /** Called once per answered request (for latency metrics). */
  observeRequest?(op: string, status: number, seconds: number): void;
  /** Serves the dashboard and its event stream; false if the path is not the dashboard's. */
  serveDashboard?(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse): boolean;
}
