// tsraft's etcd v3 API: gRPC services (KV, Watch, Lease, Cluster,
// Maintenance, Auth as "not supported") and etcd's JSON gateway on one
// client port, over a V3Backend (a single member here; the raft host later).

export { HpackError } from "../h2grpc/index.ts";
export type { ClusterHeader, MemberInfo, StatusInfo, TimeToLive, V3Backend } from "./backend.ts";
export { NO_CANCEL } from "./backend.ts";
export { etcdServiceDefinition } from "./client_definitions.ts";
export { envelope, Field, leaseRevokeCommand } from "./commands.ts";
export { GrpcCode, toStatus, V3Errors, V3RpcError } from "./errors.ts";
export { createGatewayHandler } from "./gateway.ts";
export { V3GrpcServer, type V3GrpcServerOptions } from "./grpc_server.ts";
export {
  type ClientListener,
  type ClientListenerOptions,
  type GrpcConnectionCounts,
  listenClient,
} from "./listener.ts";
export { startV3Server, type V3Server, type V3ServerOptions } from "./server.ts";
export {
  API_VERSION,
  alarmText,
  DEFAULT_MAX_REQUEST_BYTES,
  GRPC_OVERHEAD_BYTES,
  unwrapSnapshotFile,
  type V3ServiceOptions,
  V3Services,
  validatePeerUrls,
  WatchSession,
} from "./services.ts";
export {
  computeClusterId,
  computeMemberId,
  SingleMemberBackend,
  type SingleMemberOptions,
} from "./single_member.ts";
export { WatchResponseSplicer, watchIdField } from "./watch_encode.ts";
