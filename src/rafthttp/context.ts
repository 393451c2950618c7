// What the per-peer machinery shares with its Transport.

import type { OutgoingHttpHeaders } from "node:http";
import type { Logger } from "../raft/index.ts";
import type { Profile } from "../raftpb/index.ts";
import type { PeerClient } from "./client.ts";
import type { RaftHttpError } from "./errors.ts";
import type { RaftReceiver, TransportLimits, TransportTimeouts } from "./types.ts";
import type { Semver } from "./version.ts";

export interface Ctx {
  readonly id: bigint;
  /** Our member ID in canonical hex. */
  readonly hex: string;
  readonly clusterHex: string;
  readonly raft: RaftReceiver;
  readonly logger: Logger;
  readonly limits: TransportLimits;
  readonly timeouts: TransportTimeouts;
  readonly profile: Profile;
  readonly client: PeerClient;
  readonly version: Semver;
  /** Whether a TLS peer's certificate must belong to the member it speaks for (PeerTlsOptions.verifyMemberIdentity). */
  readonly verifyMemberIdentity: boolean;
  /** TransportOptions.acceptUnknownSenders. */
  readonly acceptUnknownSenders: boolean;
  /** Our X-Server-Version text. */
  readonly serverVersionText: string;
  /** Headers every outgoing request carries (From, versions, cluster ID, PeerURLs). */
  readonly commonHeaders: OutgoingHttpHeaders;
  readonly pipelineHeaders: OutgoingHttpHeaders;
  readonly snapshotHeaders: OutgoingHttpHeaders;
  now(): number;
  critical(err: RaftHttpError): void;
}
