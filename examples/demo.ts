// Placeholder until the raft core lands: prints the encoding of a heartbeat.
import { encodeMessage, Message, MessageType } from "../src/raftpb/index.ts";

const m = Message.create({ type: MessageType.MsgHeartbeat, to: 2, from: 1, term: 5, commit: 3 });
console.log("tsraft: MsgHeartbeat 1->2 encodes to", Buffer.from(encodeMessage(m)).toString("hex"));
