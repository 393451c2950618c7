// raftpb.decodeHardState: the persisted term, vote and commit.
import { DecodeError, decodeHardState, encodeHardState } from "../../src/wire.ts";
import { decoderTarget } from "../target.ts";
import { hardState } from "../values.ts";

export default decoderTarget({
  name: "raftpb-hardstate",
  description: "raftpb decodeHardState: the persisted term, vote and commit",
  decode: (b, _copy) => decodeHardState(b),
  encode: (v, profile) => encodeHardState(v, profile),
  values: hardState,
  isTypedError: (e) => e instanceof DecodeError,
});
