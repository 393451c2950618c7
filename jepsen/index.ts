// The Jepsen-style harness of tsraft-kv: what the CLI (cli.ts) and the tests use.
// The etcd-API client (grpc_client.ts) is not re-exported here: it loads
// grpc-js and etcd's protobuf messages, which only --api grpc needs
// (newKvClient loads it then); its tests import it directly.

export {
  type CheckOptions,
  type CheckReport,
  checkHistory,
  checkKey,
  DEFAULT_BUDGET,
  type KeyReport,
  revisionAnomalies,
  type Verdict,
} from "./checker.ts";
export {
  CLIENT_APIS,
  type ClientApi,
  type KvApiClient,
  KvClient,
  newKvClient,
  type Outcome,
} from "./client.ts";
export { adminRequest, Cluster, freePort, Member } from "./cluster.ts";
export { ClusterSetupError, HistoryFormatError, JepsenConfigError } from "./errors.ts";
export {
  CAS_MISMATCH,
  describeOp,
  formatHistory,
  type History,
  type HistoryMeta,
  type Op,
  type OpFn,
  type OpType,
  parseHistory,
  readHistoryFile,
  showValue,
  validateOp,
  writeHistoryFile,
} from "./history.ts";
export { FAULT_KINDS, type FaultKind } from "./nemesis.ts";
export { type CutMode, Network, PeerProxy, type SenderDirectory } from "./proxy.ts";
export { Prng } from "./rng.ts";
export { type RunOptions, type RunResult, runOnce } from "./runner.ts";
