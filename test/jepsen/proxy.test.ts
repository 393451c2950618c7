// The peer proxy: it forwards, it tells senders apart by their rafthttp
// headers, a partition cuts traffic between the pairs it names (dropping or
// freezing it) and leaves the others alone, and healing restores it.
import assert from "node:assert/strict";
import { Agent, createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { freePort, Network, PeerProxy, type SenderDirectory } from "../../jepsen/index.ts";

// Three "members": slot i's advertised peer URL is its proxy's; slot 0 only sends.
const proxyPorts: number[] = [];
const ids = ["aa01", "bb02", "cc03"];
const directory: SenderDirectory = {
  slotOfPeerURL: (u) => proxyPorts.findIndex((p) => u === `http://127.0.0.1:${p}`),
  slotOfId: (hex) => ids.indexOf(hex),
};
const net = new Network(directory);
const proxies: PeerProxy[] = [];
const backends: Server[] = [];

/** A backend that answers "<slot>:<path>", or streams numbered chunks every 20 ms on /stream. */
function backend(slot: number): Promise<number> {
  const s = createServer((req, res) => {
    if (req.url === "/stream") {
      res.writeHead(200, { "Content-Type": "text/plain" });
      let n = 0;
      const t = setInterval(() => res.write(`${n++}\n`), 20);
      res.on("close", () => clearInterval(t));
      return;
    }
    req.resume();
    req.on("end", () => res.end(`${slot}:${req.url}`));
  });
  backends.push(s);
  return new Promise((r) => s.listen(0, "127.0.0.1", () => r((s.address() as AddressInfo).port)));
}

before(async () => {
  for (let slot = 0; slot < 3; slot++) proxyPorts.push(await freePort());
  for (let slot = 0; slot < 3; slot++) {
    const p = new PeerProxy(net, slot, proxyPorts[slot]!, await backend(slot));
    proxies.push(p);
    await p.start();
  }
});

after(async () => {
  for (const p of proxies) await p.stop();
  for (const s of backends) s.closeAllConnections();
  await Promise.all(backends.map((s) => new Promise((r) => s.close(r))));
});

/** A cut request never gets an answer; how long to wait to see that. */
const CUT = { timeoutMs: 300 };

type Reply = { status: number; body: string } | { error: string };

/** A request from slot `from` (identified as rafthttp does) to slot `to`'s proxy. */
function send(
  from: number | null,
  to: number,
  opts: { path?: string; byId?: boolean; agent?: Agent; timeoutMs?: number } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (from !== null) {
    if (opts.byId) headers["X-Server-From"] = ids[from]!;
    else headers["X-PeerURLs"] = `http://127.0.0.1:${proxyPorts[from]}`;
  }
  return new Promise((resolve) => {
    const req = request(`http://127.0.0.1:${proxyPorts[to]}${opts.path ?? "/raft"}`, {
      method: "POST",
      headers,
      agent: opts.agent ?? new Agent({ keepAlive: false }),
    });
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ error: "timeout" });
    }, opts.timeoutMs ?? 10_000);
    req.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ error: e.code ?? e.message });
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (c) => (body += c));
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    req.end("payload");
  });
}

test("forwards requests to the member behind it", async () => {
  assert.deepEqual(await send(0, 1), { status: 200, body: "1:/raft" });
  assert.deepEqual(await send(0, 2, { path: "/raft/probing" }), { status: 200, body: "2:/raft/probing" });
  assert.deepEqual(await send(null, 1), { status: 200, body: "1:/raft" });
});

test("a partition (drop) cuts the pairs between groups, in both directions; heal restores them", async () => {
  net.partition([[0], [1, 2]], "drop");
  try {
    assert.deepEqual(await send(0, 1, CUT), { error: "timeout" });
    assert.deepEqual(await send(1, 0, CUT), { error: "timeout" });
    assert.deepEqual(await send(0, 2, { ...CUT, byId: true }), { error: "timeout" });
    // Within a side, and senders that say nothing about themselves, are not cut.
    assert.deepEqual(await send(2, 1), { status: 200, body: "1:/raft" });
    assert.deepEqual(await send(null, 1), { status: 200, body: "1:/raft" });
    assert.deepEqual(net.cutPairs(), [
      [0, 1],
      [0, 2],
    ]);
  } finally {
    net.heal();
  }
  assert.deepEqual(await send(0, 1), { status: 200, body: "1:/raft" });
  assert.deepEqual(await send(1, 0), { status: 200, body: "0:/raft" });
  assert.deepEqual(net.cutPairs(), []);
});

test("drop resets established connections of a cut pair; black-holed ones are reset at the heal", async () => {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    assert.deepEqual(await send(0, 1, { agent }), { status: 200, body: "1:/raft" });
    assert.equal(proxies[1]!.connections().open, 1);
    net.partition([[0], [1]], "drop");
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(proxies[1]!.connections().open, 0);
    const pending = send(0, 1, { agent });
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(proxies[1]!.connections().held, 1);
    net.heal();
    // The request was lost with its connection: the sender sees a reset, not an answer.
    const r = await pending;
    assert.ok("error" in r, JSON.stringify(r));
    assert.equal(proxies[1]!.connections().held, 0);
    assert.deepEqual(await send(0, 1, { agent }), { status: 200, body: "1:/raft" });
  } finally {
    net.heal();
    agent.destroy();
  }
});

test("cutting pairs cuts only those pairs", async () => {
  net.cutPairsOf([[1, 2]], "drop");
  try {
    assert.deepEqual(await send(1, 2, CUT), { error: "timeout" });
    assert.deepEqual(await send(0, 2), { status: 200, body: "2:/raft" });
    assert.deepEqual(await send(0, 1), { status: 200, body: "1:/raft" });
  } finally {
    net.heal();
  }
});

test("freeze stalls a connection without losing data; the heal lets it go on in order", async () => {
  const lines: number[] = [];
  const stream = new Promise<void>((resolve, reject) => {
    const req = request(`http://127.0.0.1:${proxyPorts[1]}/stream`, {
      headers: { "X-PeerURLs": `http://127.0.0.1:${proxyPorts[0]}` },
      agent: new Agent({ keepAlive: false }),
    });
    req.on("error", reject);
    req.on("response", (res) => {
      let buf = "";
      res.on("data", (c) => {
        buf += c;
        const parts = buf.split("\n");
        buf = parts.pop()!;
        for (const p of parts) lines.push(Number(p));
        if (lines.length >= 40) {
          req.destroy();
          resolve();
        }
      });
    });
    req.end();
  });
  while (lines.length < 5) await new Promise((r) => setTimeout(r, 10));
  net.partition([[0], [1, 2]], "freeze");
  await new Promise((r) => setTimeout(r, 200)); // what was already on its way arrives
  const frozenAt = lines.length;
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(lines.length, frozenAt, "nothing arrives while frozen");
  assert.equal(proxies[1]!.connections().frozen, 1);
  // A new connection from the cut sender is held, not answered...
  const held = send(0, 1);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(proxies[1]!.connections().held, 1);
  net.heal();
  // ... and goes through at the heal, as does the stream, with nothing lost.
  assert.deepEqual(await held, { status: 200, body: "1:/raft" });
  await stream;
  assert.deepEqual(
    lines,
    lines.map((_, i) => i),
  );
  assert.ok(lines.length >= 40);
});

test("a hold delays what comes back on one member's connections to one path, for a while", async () => {
  // 4 s: the unheld requests must be answered well before the hold ends even
  // on a machine loaded enough to take a second or more over each.
  const HOLD = 4000;
  net.holdResponses(0, "/raft/stream/msgapp", HOLD);
  try {
    const t0 = performance.now();
    const held = send(0, 1, { path: "/raft/stream/msgapp/aa01" });
    // Other paths and other senders are not held.
    assert.deepEqual(await send(0, 1, { path: "/raft/stream/message/aa01" }), {
      status: 200,
      body: "1:/raft/stream/message/aa01",
    });
    assert.deepEqual(await send(2, 1, { path: "/raft/stream/msgapp/cc03" }), {
      status: 200,
      body: "1:/raft/stream/msgapp/cc03",
    });
    assert.ok(performance.now() - t0 < HOLD, "unheld requests were answered before the hold ended");
    assert.deepEqual(await held, { status: 200, body: "1:/raft/stream/msgapp/aa01" });
    assert.ok(performance.now() - t0 >= HOLD - 10, `held answer after ${performance.now() - t0} ms`);
  } finally {
    net.releaseHolds();
  }
  const t1 = performance.now();
  assert.deepEqual(await send(0, 1, { path: "/raft/stream/msgapp/aa01" }), {
    status: 200,
    body: "1:/raft/stream/msgapp/aa01",
  });
  assert.ok(performance.now() - t1 < HOLD - 10, "released: no longer held");
});
