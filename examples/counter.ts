// A replicated counter on tsraft/host: one member process of a counter
// cluster, with a tiny HTTP API. Run three (each with its own --name,
// --data-dir and --http; the same --initial-cluster):
//
//   node --conditions=source --import tsx examples/counter.ts --name m1 \
//     --initial-cluster m1=http://127.0.0.1:23801,m2=http://127.0.0.1:23802,m3=http://127.0.0.1:23803 \
//     --data-dir /tmp/counter/m1 --http 127.0.0.1:23901
//
//   curl -X POST --data 5 http://127.0.0.1:23901/add   # 5: the total right after this add
//   curl http://127.0.0.1:23902/value                  # 5: a linearizable read, on another member
//   curl http://127.0.0.1:23902/status                 # {"id":"…","leader":"…"} (IDs in hex)
//
// `--conditions=source` resolves the package's own "tsraft/host" export to
// src/ without a build (see "exports" in package.json; without the flag it
// resolves to the built dist/). Restarting a member with the same flags
// resumes from its data directory. test/host/examples.e2e.test.ts
// runs three of these; bench/host-load.ts (npm run bench:host) loads them.
import { createServer, type ServerResponse } from "node:http";
import { parseArgs } from "node:util";
import { type AppliedCommand, Host, HostError, HostErrorCode, hexId, type StateMachine } from "tsraft/host";

// The state machine. A command is a delta (8 bytes, float64 holding a safe
// integer); apply returns the total after it. Deterministic: the result
// depends only on the commands, in log order. Bytes that are not a delta
// count as 0 on every member alike (apply must not throw for bad input).
class Counter implements StateMachine<number, void, number> {
  value = 0;

  apply(cmds: readonly AppliedCommand[]): number[] {
    return cmds.map((c) => {
      if (c.data.length === 8)
        this.value += new DataView(c.data.buffer, c.data.byteOffset, 8).getFloat64(0, true);
      return this.value;
    });
  }

  snapshot(): AsyncIterable<Uint8Array> {
    const image = f64(this.value); // fixed now, not when the stream is read
    return (async function* () {
      yield image;
    })();
  }

  async restore(image: AsyncIterable<Uint8Array>): Promise<void> {
    const chunks: Uint8Array[] = [];
    for await (const c of image) chunks.push(c);
    this.value = Buffer.concat(chunks).readDoubleLE(0);
  }

  query(): number {
    return this.value;
  }
}

function f64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setFloat64(0, n, true);
  return b;
}

const o = { type: "string", default: "" } as const;
const { values } = parseArgs({ options: { name: o, "initial-cluster": o, "data-dir": o, http: o } });
const { name, "data-dir": dataDir, "initial-cluster": members, http: listen } = values;
// --initial-cluster m1=http://host:port,m2=...: this member listens on its own entry's URL.
const initialCluster = members
  .split(",")
  .map((m) => ({ name: m.split("=")[0]!, peerURLs: m.split("=").slice(1) }));
const listenPeerURL = initialCluster.find((m) => m.name === name)?.peerURLs[0] ?? "";
const host = new Host<number, void, number>({
  name,
  dataDir,
  stateMachine: new Counter(),
  initialCluster,
  listenPeerURL,
});
await host.start();
// Exit once the host has stopped: after SIGTERM or removal from the cluster (0), or a fatal error (1).
host.on("error", (err) => console.error(`fatal: ${err.message}`));
host.done.catch(() => (process.exitCode = 1)).finally(() => process.exit());
process.on("SIGTERM", () => void host.stop());

const reply = (res: ServerResponse, status: number, body: string) => res.writeHead(status).end(body);
createServer(async (req, res) => {
  const signal = AbortSignal.timeout(5000);
  try {
    if (req.method === "POST" && req.url === "/add") {
      let body = "";
      for await (const chunk of req) body += chunk;
      const n = Number(body);
      if (body === "" || !Number.isSafeInteger(n)) return reply(res, 400, "the body must be an integer\n");
      return reply(res, 200, String(await host.propose(f64(n), { signal })));
    }
    if (req.url === "/value") return reply(res, 200, String(await host.read(undefined, { signal })));
    if (req.url === "/status") {
      return reply(res, 200, JSON.stringify({ id: hexId(host.id), leader: hexId(host.leader()) }));
    }
    reply(res, 404, "not found\n");
  } catch (err) {
    // Retryable (no leader, dropped) → 503; timed out (it may still apply!) → 504.
    const e = err instanceof HostError ? err : new HostError(HostErrorCode.Fatal, String(err));
    reply(res, e.retryable ? 503 : e.code === HostErrorCode.Timeout ? 504 : 500, `${e.code}: ${e.message}\n`);
  }
}).listen(Number(listen.split(":")[1]), listen.split(":")[0]);
