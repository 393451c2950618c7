// rafthttp: the msgappv2 stream decoder (see fuzz/stream.ts).
import { streamTarget } from "../stream.ts";

export default streamTarget("msgappv2");
