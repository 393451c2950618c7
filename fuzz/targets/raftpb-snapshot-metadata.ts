// raftpb.decodeSnapshotMetadata: snapshot metadata.
import { DecodeError, decodeSnapshotMetadata, encodeSnapshotMetadata } from "../../src/wire.ts";
import { decoderTarget } from "../target.ts";
import { snapshotMetadata } from "../values.ts";

export default decoderTarget({
  name: "raftpb-snapshot-metadata",
  description: "raftpb decodeSnapshotMetadata: snapshot metadata",
  decode: (b, _copy) => decodeSnapshotMetadata(b),
  encode: (v, profile) => encodeSnapshotMetadata(v, profile),
  values: snapshotMetadata,
  isTypedError: (e) => e instanceof DecodeError,
});
