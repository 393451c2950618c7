// raftpb: the data types of etcd's raft, their etcd-identical binary codec,
// conf-change helpers and describe functions.

export * from "./codec.ts";
export * from "./confchange.ts";
export * from "./describe.ts";
export * from "./ids.ts";
export { quoteBytes, utf8 } from "./quote.ts";
export * from "./types.ts";
export {
  DecodeError,
  EncodeError,
  isUint64,
  lengthDelimitedSize,
  MAX_UINT64,
  Reader,
  varintSize,
  varintSize64,
  Writer,
} from "./wire.ts";
