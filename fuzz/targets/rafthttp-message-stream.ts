// rafthttp: the general message stream decoder (see fuzz/stream.ts).
import { streamTarget } from "../stream.ts";

export default streamTarget("message");
