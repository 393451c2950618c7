// A lock service with leases and fencing tokens on tsraft/host: one member
// process, with a tiny HTTP API. Run three, as examples/counter.ts shows
// (same flags), then:
//
//   curl -X POST '127.0.0.1:23901/acquire?lock=db&client=a&ttl=5000'  # 200 {"holder":"a","token":1,"expiresAt":…}
//   curl -X POST '127.0.0.1:23902/acquire?lock=db&client=b&ttl=5000'  # 409 {"holder":"a",…}: held
//   curl -X POST '127.0.0.1:23901/renew?lock=db&token=1&ttl=5000'     # 200: the lease is extended
//   curl -X POST '127.0.0.1:23901/release?lock=db&token=1'            # 200; a stale token gets 409
//   curl '127.0.0.1:23903/holder?lock=db'                             # 200 the lease, or 404 when free
//
// Fencing tokens strictly increase per lock (they are never reused, even
// after a release): pass the token to the resource the lock protects and let
// it refuse a token lower than one it has seen, so a holder whose lease ran
// out unnoticed (a long GC pause) cannot overwrite its successor's work.
//
// Clocks. apply must be deterministic, so it never reads the clock: the time
// of a request is the proposing member's Date.now(), written into the
// command, and the state machine's clock is the largest time seen in the log
// so far (it never goes back, even if members' clocks disagree). A lease
// granted at T with ttl D expires at T + D of that clock. This assumes the
// members' clocks agree within some bound S (NTP): a lease may end up to S
// early or late in real time, so holders must stop using a lock well before
// expiresAt (minus S, minus their own pause risk) — and the fencing token
// covers what a lease cannot. The holder query compares with the reading
// member's clock.
import { createServer } from "node:http";
import { Readable } from "node:stream";
import { json } from "node:stream/consumers";
import { parseArgs } from "node:util";
import { type AppliedCommand, Host, HostError, HostErrorCode, type StateMachine } from "tsraft/host";

type Lease = { holder: string; token: number; expiresAt: number };
type Result = { ok: boolean; lease?: Lease };

class Locks implements StateMachine<Result, { lock: string; now: number }, Lease | undefined> {
  held = new Map<string, Lease>();
  lastToken = new Map<string, number>(); // kept after a release: tokens are never reused
  clock = 0; // the largest proposer time in the log so far

  apply(cmds: readonly AppliedCommand[]): Result[] {
    return cmds.map((c) => {
      // Only the handler below proposes, with every field checked, so this parse cannot fail.
      const { op, lock, client, token, ttl, now } = JSON.parse(Buffer.from(c.data).toString());
      this.clock = Math.max(this.clock, now);
      const cur = this.held.get(lock);
      const live = cur !== undefined && cur.expiresAt > this.clock;
      if (op === "acquire") {
        if (live) return { ok: false, lease: cur };
        const next = (this.lastToken.get(lock) ?? 0) + 1;
        this.lastToken.set(lock, next);
        this.held.set(lock, { holder: client, token: next, expiresAt: this.clock + ttl });
        return { ok: true, lease: this.held.get(lock) };
      }
      // renew needs a live lease; release also takes an expired one that nobody has taken over.
      if (cur?.token !== token || (op === "renew" && !live)) return { ok: false, lease: cur };
      if (op === "release") this.held.delete(lock);
      else this.held.set(lock, { ...cur!, expiresAt: this.clock + ttl }); // a new object: images stay fixed
      return { ok: true, lease: this.held.get(lock) };
    });
  }

  snapshot(): AsyncIterable<Uint8Array> {
    // The image is made now, as the contract asks, not when the stream is read.
    return Readable.from([Buffer.from(JSON.stringify([this.clock, [...this.held], [...this.lastToken]]))]);
  }

  async restore(image: AsyncIterable<Uint8Array>): Promise<void> {
    const [clock, held, lastToken] = (await json(image)) as [number, [string, Lease][], [string, number][]];
    [this.clock, this.held, this.lastToken] = [clock, new Map(held), new Map(lastToken)];
  }

  query(q: { lock: string; now: number }): Lease | undefined {
    const l = this.held.get(q.lock);
    return l !== undefined && l.expiresAt > Math.max(q.now, this.clock) ? l : undefined;
  }
}

const o = { type: "string", default: "" } as const;
const { values } = parseArgs({ options: { name: o, "initial-cluster": o, "data-dir": o, http: o } });
const { name, "data-dir": dataDir, "initial-cluster": members, http: listen } = values;
// --initial-cluster m1=http://host:port,m2=...: this member listens on its own entry's URL.
const cluster = members.split(",").map((m) => ({ name: m.split("=")[0]!, peerURLs: m.split("=").slice(1) }));
const listenPeerURL = cluster.find((m) => m.name === name)?.peerURLs[0] ?? "";
const host = new Host({ name, dataDir, stateMachine: new Locks(), initialCluster: cluster, listenPeerURL });
await host.start();
// Exit once the host has stopped: after SIGTERM or removal from the cluster (0), or a fatal error (1).
host.on("error", (err) => console.error(`fatal: ${err.message}`));
host.done.catch(() => (process.exitCode = 1)).finally(() => process.exit());
process.on("SIGTERM", () => void host.stop());

createServer(async (req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  const { lock = "", client = "", ...q } = Object.fromEntries(url.searchParams);
  const [op, token, ttl] = [url.pathname.slice(1), Number(q.token), Number(q.ttl)] as const; // NaN if missing
  const send = (status: number, body: unknown) => res.writeHead(status).end(`${JSON.stringify(body)}\n`);
  const signal = AbortSignal.timeout(5000);
  try {
    if (req.method === "GET" && op === "holder") {
      const lease = await host.read({ lock, now: Date.now() }, { signal });
      return send(lease === undefined ? 404 : 200, lease ?? { error: "not held" });
    }
    const ttlOk = Number.isSafeInteger(ttl) && ttl > 0 && ttl <= 3_600_000;
    const tokOk = Number.isSafeInteger(token) && token > 0;
    const ok: Record<string, boolean> = { acquire: !!client && ttlOk, renew: tokOk && ttlOk, release: tokOk };
    if (req.method !== "POST" || ok[op] !== true || lock === "") {
      return send(400, { error: "POST /acquire?client=C&ttl=MS, /renew?token=T&ttl=MS, /release?token=T" });
    }
    const cmd = { op, lock, client, token, ttl, now: Date.now() };
    const r = await host.propose(Buffer.from(JSON.stringify(cmd)), { signal });
    send(r.ok ? 200 : 409, r.lease ?? { error: "not held" });
  } catch (err) {
    // Retryable (no leader, dropped) → 503; timed out (it may still apply!) → 504.
    const e = err instanceof HostError ? err : new HostError(HostErrorCode.Fatal, String(err));
    const status = e.retryable ? 503 : e.code === HostErrorCode.Timeout ? 504 : 500;
    send(status, { error: e.code, message: e.message });
  }
}).listen(Number(listen.split(":")[1]), listen.split(":")[0]);
