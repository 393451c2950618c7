// The contract between the transport and the application's raft node, and
// the transport's options.

import type { Readable } from "node:stream";
import type { Logger, SnapshotStatus } from "../raft/index.ts";
import type { Message, Profile } from "../raftpb/index.ts";
import type { RaftHttpError } from "./errors.ts";
import type { PeerTlsOptions } from "./tls.ts";

/**
 * The local raft node as the transport sees it (etcd's rafthttp.Raft): it
 * receives the messages peers send, and the transport's reports of messages
 * it could not deliver. Node and RawNode have the three report/step methods
 * (`process` wraps `step`); the application adds isIDRemoved from its
 * membership.
 *
 * What the transport promises about `process`:
 *   - Only messages that passed the sender checks reach it (docs/rafthttp.md,
 *     "Trust model"): from a current or vouched-for member, addressed to us,
 *     never from a removed member.
 *   - Per peer, messages from one stream are processed in the order the peer
 *     sent them on that stream, one at a time (the next after the previous
 *     promise settles); proposals go through a lane of their own, so a slow
 *     proposal never holds up the raft traffic behind it. There is no order
 *     between the two streams, nor between streams and POSTs: raft does not
 *     need one (every message carries its term and indexes).
 *   - A pipeline or snapshot POST is answered after `process` settled, so the
 *     sender knows raft took the message; a ProcessError thrown here picks
 *     the status of that answer.
 * What it does not promise: delivery. Any message may be dropped (a full
 * queue, a broken connection, a paused peer); the sender's raft is told via
 * reportUnreachable and retries, as raft is built to.
 */
export interface RaftReceiver {
  /**
   * Steps a message received from a peer. May return a promise; stream
   * messages are processed one at a time per peer (proposals in their own
   * lane), pipeline and snapshot POSTs are answered after it settles. Throw a
   * ProcessError to choose the HTTP status of a POST's answer.
   */
  process(m: Message): void | Promise<void>;
  /** True when `id` was removed from the cluster (its requests get 403 / 410). */
  isIDRemoved(id: bigint): boolean;
  /** A message to `id` was dropped or could not be delivered (raft's leader probes it again). */
  reportUnreachable(id: bigint): void;
  /**
   * A snapshot transfer to `id` finished or failed (the core's SnapshotStatus:
   * SnapshotFinish when the receiver answered 204, i.e. saved the data and
   * stepped the MsgSnap; SnapshotFailure otherwise, and raft sends it again).
   */
  reportSnapshot(id: bigint, status: SnapshotStatus): void;
}

/**
 * etcd's "merged snapshot message": the raft MsgSnap plus the application's
 * snapshot data (e.g. the backend database), streamed after the message.
 */
export interface SnapshotMessage {
  /** A MsgSnap; `to` names the peer. */
  message: Message;
  /** The data; it must yield exactly `size` bytes. */
  body: Readable | AsyncIterable<Uint8Array> | Uint8Array;
  size: number;
}

export interface SnapshotSendResult {
  ok: boolean;
  /** Why it failed (when !ok). */
  error?: Error;
}

/**
 * Receives the data part of an incoming snapshot (e.g. writes it to
 * `<index>.snap.db`); it must consume `data` and resolve once it is durable.
 * The message is handed to raft.process only afterwards.
 */
export type SaveSnapshotData = (message: Message, data: Readable) => Promise<void>;

/**
 * A cluster member as etcd's peer endpoint `GET /members` lists it (etcd's
 * membership.Member). tsraft-kv's MemberInfo has this shape.
 */
export interface PeerMember {
  id: bigint;
  /** Empty until the member has started and published its name (etcd omits it then). */
  name: string;
  peerURLs: readonly string[];
  /** Empty until published (etcd omits it then). */
  clientURLs: readonly string[];
  isLearner: boolean;
}

/** What `GET /version` answers (etcd's version.Versions). */
export interface PeerVersions {
  /** This member's server version (default: the transport's serverVersion). */
  server?: string;
  /**
   * The cluster version this member has applied (etcd: MAJOR.MINOR.0), or
   * "not_decided" (the default) while it does not know one. A joining etcd
   * member checks that it can run at that version; "not_decided" is skipped.
   */
  cluster?: string;
}

export interface TransportLimits {
  /** Largest pipeline body, message-stream frame or msgappv2 frame accepted (default 512 MiB). */
  maxMessageBytes: number;
  /** Largest raft message in a snapshot POST (default 64 MiB, etcd main's limit). */
  maxSnapshotEnvelopeBytes: number;
  /** Largest snapshot data accepted (default unlimited). */
  maxSnapshotBytes: number;
  /** Messages queued per stream writer before dropping (default 4096). */
  streamQueueLength: number;
  /** Encoded bytes queued per stream writer before dropping (default 64 MiB). */
  streamQueueBytes: number;
  /** Messages queued per pipeline before dropping (default 64). */
  pipelineQueueLength: number;
  /** Concurrent pipeline POSTs per peer (default 4). */
  pipelineConcurrency: number;
  /** Received messages waiting for raft.process per peer, and proposals likewise (default 4096 each). */
  receiveQueueLength: number;
  /**
   * Pipeline body bytes held in memory at once, across all connections
   * (default 128 MiB). Beyond it a POST is refused with 503, so a few huge
   * bodies that never finish cannot take the member's memory.
   */
  maxInflightBodyBytes: number;
}

export interface TransportTimeouts {
  /** A stream with no byte for this long is closed (etcd ConnReadTimeout, default 5000 ms). */
  readTimeout: number;
  /** A stream writer whose socket accepts nothing for this long is closed (default 5000 ms). */
  writeTimeout: number;
  /** TCP (and TLS) connect timeout (default 2000 ms, etcd's 1 s + election timeout). */
  dialTimeout: number;
  /** Minimum gap between two dials of one stream (default 100 ms). */
  dialRetryInterval: number;
  /** Link heartbeat period on idle streams (default readTimeout / 3). */
  heartbeatInterval: number;
  /** Probe period per peer (default readTimeout - 1000 ms = 4 s). */
  probeInterval: number;
  /** Time allowed to read a snapshot POST's response after its headers (default 5000 ms). */
  snapshotResponseTimeout: number;
  /** How often certificate files are checked for changes (default 1000 ms). */
  tlsReloadInterval: number;
  /** A pipeline or snapshot request body that sends nothing for this long is dropped (default 2 x readTimeout). */
  bodyIdleTimeout: number;
}

export interface TransportOptions {
  /** Local member ID = raft node ID: a non-zero 64-bit bigint, or its hex text form as etcd prints it. */
  id: bigint | string;
  /** 64-bit cluster ID (a bigint or its hex text form). */
  clusterId: bigint | string;
  /** The local node's advertised peer URLs (sent as X-PeerURLs). */
  urls?: string[];
  raft: RaftReceiver;
  /** Version announced in X-Server-Version (MAJOR.MINOR.PATCH[-pre]; default "3.6.0"). */
  serverVersion?: string;
  /** Version announced in X-Min-Cluster-Version (default "3.0.0"). */
  minClusterVersion?: string;
  logger?: Logger;
  /** TLS for https peer URLs (client side) and for listen() (server side). */
  tls?: PeerTlsOptions;
  /** raftpb encoding profile for outgoing messages (default "P37"). */
  profile?: Profile;
  saveSnapshotData?: SaveSnapshotData;
  /**
   * etcd's behaviour: process messages from senders that are not peers (and
   * answer them through a remote learnt from X-PeerURLs). Off by default:
   * such messages are refused unless a peer vouches for the sender (see
   * docs/rafthttp.md, "Trust model"). A member that starts without any peer
   * yet, to be told the membership by the log, needs it.
   */
  acceptUnknownSenders?: boolean;
  /** Fatal conditions (this member was removed); default: logged as errors. */
  onCriticalError?: (err: RaftHttpError) => void;
  /** Wall clock in ms, for activeSince (default Date.now). */
  now?: () => number;
  /**
   * The current membership, served as etcd's `GET /members` (a joining etcd
   * member reads the cluster ID and the members there). Without it that
   * path answers 404.
   */
  members?: () => readonly PeerMember[];
  /**
   * The versions served as etcd's `GET /version`. etcd's leader reads every
   * member's server version every 4 s to decide the cluster version (the
   * lowest one wins; a member that does not answer keeps it from rising).
   * Default: `{ server: serverVersion, cluster: "not_decided" }`.
   */
  versions?: () => PeerVersions;
  limits?: Partial<TransportLimits>;
  timeouts?: Partial<TransportTimeouts>;
}

export const DEFAULT_LIMITS: TransportLimits = {
  maxMessageBytes: 512 * 1024 * 1024,
  maxSnapshotEnvelopeBytes: 64 * 1024 * 1024,
  maxSnapshotBytes: Number.MAX_SAFE_INTEGER,
  streamQueueLength: 4096,
  streamQueueBytes: 64 * 1024 * 1024,
  pipelineQueueLength: 64,
  pipelineConcurrency: 4,
  receiveQueueLength: 4096,
  maxInflightBodyBytes: 128 * 1024 * 1024,
};

export function resolveTimeouts(t: Partial<TransportTimeouts> | undefined): TransportTimeouts {
  const readTimeout = t?.readTimeout ?? 5000;
  return {
    readTimeout,
    writeTimeout: t?.writeTimeout ?? 5000,
    dialTimeout: t?.dialTimeout ?? 2000,
    dialRetryInterval: t?.dialRetryInterval ?? 100,
    heartbeatInterval: t?.heartbeatInterval ?? Math.floor(readTimeout / 3),
    probeInterval: t?.probeInterval ?? Math.max(readTimeout - 1000, 100),
    snapshotResponseTimeout: t?.snapshotResponseTimeout ?? 5000,
    tlsReloadInterval: t?.tlsReloadInterval ?? 1000,
    bodyIdleTimeout: t?.bodyIdleTimeout ?? 2 * readTimeout,
  };
}
