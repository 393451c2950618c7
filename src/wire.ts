// tsraft/wire: etcd raft's binary format. Encoders and decoders of every
// raftpb message (byte-identical to etcd's gogoproto output, in the P37 and
// G36 profiles), the protobuf Reader/Writer they are built on, and the
// varint/size helpers, for code that puts raft messages on a wire or a disk
// of its own. Pure like the core: no Node built-ins.

export {
  DecodeError,
  type DecodeOptions,
  decodeConfChange,
  decodeConfChangeV2,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeMessage,
  decodeSnapshot,
  decodeSnapshotMetadata,
  EncodeError,
  encodeConfChange,
  encodeConfChangeV2,
  encodeConfState,
  encodedEntrySize,
  encodedMessageSize,
  encodeEntry,
  encodeEntryInto,
  encodeHardState,
  encodeMessage,
  encodeMessageInto,
  encodeSnapshot,
  encodeSnapshotMetadata,
  entrySize,
  isUint64,
  lengthDelimitedSize,
  MAX_UINT64,
  marshalConfChange,
  type Profile,
  parseUint64,
  Reader,
  varintSize,
  varintSize64,
  Writer,
} from "./raftpb/index.ts";
