// tsraft/rafthttp: etcd's peer transport (rafthttp) for Node.js.

export type { FrameSink } from "./codec.ts";
export {
  FrameBuffer,
  LINK_HEARTBEAT,
  MessageDecoder,
  MessageEncoder,
  MsgAppV2Decoder,
  MsgAppV2Encoder,
} from "./codec.ts";
export {
  ProcessError,
  RaftHttpError,
  RaftHttpErrorCode,
  TransportConfigError,
} from "./errors.ts";
export { formatId, parseId } from "./ids.ts";
export { encodeMembersJson } from "./peer_api.ts";
export type {
  FollowerStatsSnapshot,
  LatencyStats,
  PathCounts,
  PeerStats,
  ProbeStats,
  TransportStats,
} from "./stats.ts";
export { type PeerTlsOptions, peerClientTlsOptions } from "./tls.ts";
export { Transport } from "./transport.ts";
export type {
  PeerMember,
  PeerVersions,
  RaftReceiver,
  SaveSnapshotData,
  SnapshotMessage,
  SnapshotSendResult,
  TransportLimits,
  TransportOptions,
  TransportTimeouts,
} from "./types.ts";
