// raftpb.decodeConfChangeV2: a V2 (joint) membership change.
import { DecodeError, decodeConfChangeV2, encodeConfChangeV2 } from "../../src/wire.ts";
import { decoderTarget } from "../target.ts";
import { confChangeV2 } from "../values.ts";

export default decoderTarget({
  name: "raftpb-confchange-v2",
  description: "raftpb decodeConfChangeV2: a V2 (joint) membership change",
  decode: (b, copy) => decodeConfChangeV2(b, { copy }),
  encode: (v, profile) => encodeConfChangeV2(v, profile),
  values: confChangeV2,
  isTypedError: (e) => e instanceof DecodeError,
});
