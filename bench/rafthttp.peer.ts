// The receiving member of bench/rafthttp.bench.ts, run in a worker thread so
// that each end has its own core (as separate member processes would). It
// counts what it receives in a shared counter and answers heartbeats.

import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { parentPort, workerData } from "node:worker_threads";
import { discardLogger } from "../src/index.ts";
import { type RaftReceiver, Transport } from "../src/rafthttp/index.ts";
import { decodeMessage, Message, MessageType } from "../src/raftpb/index.ts";

const counter = new Int32Array(workerData.counter as SharedArrayBuffer);
let t: Transport;

class CountingRaft implements RaftReceiver {
  process(m: Message): void {
    Atomics.add(counter, 0, 1);
    if (m.type === MessageType.MsgHeartbeat) {
      t.send([
        Message.create({
          type: MessageType.MsgHeartbeatResp,
          from: 2n,
          to: 1n,
          term: m.term,
          commit: m.commit,
        }),
      ]);
    }
  }
  isIDRemoved(): boolean {
    return false;
  }
  reportUnreachable(): void {}
  reportSnapshot(): void {}
}

t = new Transport({ id: 2n, clusterId: 1n, raft: new CountingRaft(), logger: discardLogger });
const addr = await t.listen(0);
t.start();
t.addPeer(1n, [workerData.peerUrl as string]);

// The baseline: a plain HTTP server that decodes one message per POST.
const server = http.createServer((req, res) => {
  const parts: Buffer[] = [];
  req.on("data", (c: Buffer) => parts.push(c));
  req.on("end", () => {
    decodeMessage(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    Atomics.add(counter, 0, 1);
    res.writeHead(204);
    res.end();
  });
});
await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));

parentPort!.postMessage({
  url: `http://127.0.0.1:${addr.port}`,
  postPort: (server.address() as AddressInfo).port,
});
parentPort!.on("message", async (m: string) => {
  if (m !== "stop") return;
  await t.stop();
  server.closeAllConnections();
  server.close(() => parentPort!.postMessage("stopped"));
});
