// The dashboard page: one self-contained HTML document (inline CSS and
// script, no external assets, no build step). The script subscribes to
// /ui/events and redraws the cluster as a picture on each snapshot; its
// buttons call the member's client API on the same origin.
//
// The script is plain browser JavaScript kept in a template string, so it
// must not contain backticks, dollar-brace sequences or backslashes (which
// the string would interpret); test/kv/dashboard.test.ts checks that it
// parses and has none.

const PAGE_STYLE = `
:root {
  --bg: #0f172a; --panel: #111c33; --line: #1e2a44; --text: #e2e8f0; --dim: #8b9bb8;
  --gold: #f5b301; --blue: #3b82f6; --orange: #f97316; --teal: #2dd4bf; --red: #ef4444; --green: #22c55e;
  --amber: #f59e0b; --purple: #a855f7; --down: #374151;
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
header { display: flex; align-items: center; gap: 28px; padding: 14px 22px; border-bottom: 1px solid var(--line);
  background: linear-gradient(90deg, #111c33, #0f172a); }
header h1 { font-size: 18px; margin: 0; letter-spacing: .02em; }
header h1 small { color: var(--dim); font-weight: 400; margin-left: 8px; }
.kpi { display: flex; flex-direction: column; }
.kpi .label { color: var(--dim); font-size: 11px; text-transform: uppercase; letter-spacing: .08em; }
.kpi .value { font-size: 22px; font-weight: 700; }
#leader .value { color: var(--gold); }
#quorum .value { color: var(--green); } #quorum.lost .value { color: var(--red); }
#conn { margin-left: auto; display: flex; align-items: center; gap: 8px; color: var(--dim); }
#conn .dot { width: 10px; height: 10px; border-radius: 50%; background: var(--red); }
#conn.live .dot { background: var(--green); box-shadow: 0 0 8px var(--green); }
#conn.stale .dot { background: var(--amber); }
main { display: grid; grid-template-columns: 470px 1fr; gap: 16px; padding: 16px 22px; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 12px; padding: 12px 14px; }
section h2 { font-size: 12px; color: var(--dim); text-transform: uppercase; letter-spacing: .08em; margin: 0 0 8px; }
.wide { grid-column: 1 / -1; }
#ring { width: 100%; height: 440px; display: block; }
#ring text { fill: var(--text); text-anchor: middle; font-size: 12px; }
#ring .name { font-weight: 700; font-size: 15px; }
#ring .role { font-size: 11px; fill: #0f172a; font-weight: 600; }
#ring .under { fill: var(--dim); font-size: 11px; }
#ring .spoke-label { fill: var(--dim); font-size: 10px; }
#ring .leader-glow { filter: drop-shadow(0 0 10px rgba(245, 179, 1, .7)); }
.flow { stroke-dasharray: 6 8; animation: flow 0.9s linear infinite; }
@keyframes flow { to { stroke-dashoffset: -14; } }
#cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(300px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-left: 5px solid var(--dim); border-radius: 10px; padding: 10px 12px;
  background: #0d1629; }
.card[data-role="leader"] { border-left-color: var(--gold); box-shadow: 0 0 0 1px rgba(245, 179, 1, .25); }
.card[data-role="follower"] { border-left-color: var(--blue); }
.card[data-role="candidate"] { border-left-color: var(--orange); }
.card[data-role="learner"] { border-left-color: var(--teal); }
.card[data-role="down"] { border-left-color: var(--red); opacity: .75; }
.card-head { display: flex; align-items: center; gap: 8px; }
.card-head .swatch { width: 10px; height: 10px; border-radius: 3px; }
.card-head .name { font-weight: 700; font-size: 15px; }
.card-head .id { color: var(--dim); font-size: 11px; }
.card-head a { margin-left: auto; color: var(--dim); font-size: 11px; }
.badge { font-size: 10px; font-weight: 700; text-transform: uppercase; letter-spacing: .06em; padding: 2px 7px;
  border-radius: 999px; background: var(--dim); color: #0f172a; }
.badge.leader { background: var(--gold); } .badge.follower { background: var(--blue); }
.badge.candidate { background: var(--orange); } .badge.learner { background: var(--teal); }
.badge.down { background: var(--red); color: white; }
.stats { display: grid; grid-template-columns: repeat(4, 1fr); gap: 4px; margin: 8px 0; }
.stats div { display: flex; flex-direction: column; }
.stats span { color: var(--dim); font-size: 10px; text-transform: uppercase; }
.stats b { font-size: 15px; }
.bar { position: relative; height: 10px; background: #1f2937; border-radius: 5px; overflow: hidden; }
.bar .fill { position: absolute; inset: 0 auto 0 0; border-radius: 5px; transition: width .4s; }
.repl-text { color: var(--dim); font-size: 11px; margin-top: 3px; min-height: 15px; }
.actions { display: flex; gap: 6px; margin-top: 8px; }
button { background: #1e293b; color: var(--text); border: 1px solid #334155; border-radius: 6px; padding: 4px 10px;
  font: inherit; font-size: 12px; cursor: pointer; }
button:hover:not(:disabled) { border-color: var(--blue); }
button:disabled { opacity: .4; cursor: default; }
button.armed { background: var(--red); border-color: var(--red); }
button.primary { background: var(--blue); border-color: var(--blue); }
.msg { font-size: 12px; margin-top: 6px; min-height: 16px; }
.msg.err { color: #fca5a5; } .msg.ok { color: #86efac; }
#timeline { width: 100%; height: 64px; display: block; }
#timeline text { font-size: 11px; fill: #0f172a; font-weight: 600; }
#timeline .axis { fill: var(--dim); font-weight: 400; }
#timeline-caption { color: var(--dim); font-size: 12px; margin-top: 4px; }
.spark { display: flex; gap: 14px; align-items: center; }
.spark svg { flex: 1; height: 64px; }
.spark .big { font-size: 26px; font-weight: 700; min-width: 130px; }
.spark .big small { font-size: 12px; color: var(--dim); font-weight: 400; display: block; }
form { display: flex; gap: 8px; flex-wrap: wrap; align-items: center; }
input[type=text] { background: #0b1222; color: var(--text); border: 1px solid #334155; border-radius: 6px;
  padding: 5px 8px; font: inherit; font-size: 12px; width: 220px; }
label { color: var(--dim); font-size: 12px; }
#notice { padding: 0 22px; min-height: 0; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 14px; color: var(--dim); font-size: 11px; margin-top: 6px; }
.legend span { display: inline-flex; align-items: center; gap: 5px; }
.legend .node { width: 11px; height: 11px; border-radius: 50%; display: inline-block; }
.legend .edge { width: 18px; height: 4px; border-radius: 2px; display: inline-block; }
`;

export const PAGE_SCRIPT = `
"use strict";
(() => {
  const SVG = "http://www.w3.org/2000/svg";
  const MEMBER_COLORS = ["#60a5fa", "#f472b6", "#34d399", "#c084fc", "#fb923c", "#facc15", "#38bdf8", "#a3e635"];
  const STATE_COLORS = { replicate: "#22c55e", probe: "#f59e0b", snapshot: "#a855f7" };
  const ROLE_FILL = { leader: "#f5b301", follower: "#3b82f6", candidate: "#f97316", learner: "#2dd4bf", down: "#374151" };
  const $ = (id) => document.getElementById(id);
  let snap = null;
  let lastMessage = 0;
  let colors = new Map();

  // ---------------------------------------------------------------- helpers

  function h(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function s(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
  function fmtMs(v) {
    if (v === null || v === undefined) return "–";
    return v < 1 ? v.toFixed(2) : v < 10 ? v.toFixed(1) : String(Math.round(v));
  }
  function fmtRate(v) { return v < 10 ? v.toFixed(1) : String(Math.round(v)); }
  function fmtAgo(ms) {
    const sec = Math.max(0, Math.round(ms / 1000));
    if (sec < 60) return sec + " s ago";
    if (sec < 3600) return Math.round(sec / 60) + " min ago";
    return Math.round(sec / 3600) + " h ago";
  }
  function roleOf(m) {
    if (!m.up) return "down";
    if (m.raftState === "leader") return "leader";
    if (m.raftState === "candidate" || m.raftState === "pre-candidate") return "candidate";
    return m.isLearner ? "learner" : "follower";
  }
  function nameOf(id) {
    const m = snap && snap.members.find((x) => x.id === id);
    return m ? m.name || m.id : id;
  }
  function colorOf(id) { return colors.get(id) || "#64748b"; }

  // Calls the client API of the member serving this page; rejects with the API's message.
  async function api(method, path, body) {
    const init = { method, headers: {} };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch (e) { /* not JSON */ }
    if (!res.ok) throw new Error((json && json.message) || "HTTP " + res.status + ": " + text.slice(0, 200));
    return json;
  }
  function say(target, text, kind, clearAfterMs) {
    target.textContent = text;
    target.className = "msg " + (kind || "");
    if (clearAfterMs) {
      const mine = text;
      setTimeout(() => { if (target.textContent === mine) say(target, "", ""); }, clearAfterMs);
    }
  }

  // ---------------------------------------------------------------- header

  function renderHeader() {
    $("term").querySelector(".value").textContent = snap.term ? String(snap.term) : "–";
    const leader = $("leader");
    leader.dataset.id = snap.leader;
    leader.querySelector(".value").textContent = snap.leader === "0" ? "none (election)" : "♛ " + nameOf(snap.leader);
    $("served").textContent = "served by " + nameOf(snap.servedBy);
    const voters = snap.members.filter((m) => !m.isLearner);
    const up = voters.filter((m) => m.up).length;
    const need = Math.floor(voters.length / 2) + 1;
    const q = $("quorum");
    q.querySelector(".value").textContent = up + " / " + voters.length;
    q.querySelector(".label").textContent = "voters up · quorum " + need;
    q.classList.toggle("lost", up < need);
    $("rate").querySelector(".value").textContent = fmtRate(snap.load.rate) + " /s";
    $("p99").querySelector(".value").textContent = fmtMs(snap.load.p99Ms) + " ms";
  }

  // ---------------------------------------------------------------- the ring

  function renderRing() {
    const g = clear($("ring"));
    const W = 440, H = 440, cx = W / 2, cy = H / 2 + 6, R = 132, r = 44;
    const ms = snap.members;
    const pos = new Map();
    ms.forEach((m, i) => {
      const a = -Math.PI / 2 + (2 * Math.PI * i) / ms.length;
      pos.set(m.id, ms.length === 1 ? [cx, cy] : [cx + R * Math.cos(a), cy + R * Math.sin(a)]);
    });
    g.appendChild(s("circle", { cx, cy, r: R, fill: "none", stroke: "#1e2a44", "stroke-width": 2, "stroke-dasharray": "3 6" }));

    // Spokes: the leader's replication stream to each follower, colored by progress state.
    const rep = snap.replication;
    if (rep && pos.has(rep.leader)) {
      const [lx, ly] = pos.get(rep.leader);
      for (const f of rep.followers) {
        if (!pos.has(f.id)) continue;
        const [fx, fy] = pos.get(f.id);
        const d = Math.hypot(fx - lx, fy - ly) || 1;
        const ux = (fx - lx) / d, uy = (fy - ly) / d;
        const x1 = lx + ux * (r + 4), y1 = ly + uy * (r + 4), x2 = fx - ux * (r + 6), y2 = fy - uy * (r + 6);
        const color = STATE_COLORS[f.state] || "#64748b";
        g.appendChild(s("line", { x1, y1, x2, y2, stroke: color, "stroke-width": 3, opacity: f.recentActive ? 0.25 : 0.12 }));
        const flow = s("line", { x1, y1, x2, y2, stroke: color, "stroke-width": 4, "stroke-linecap": "round",
          opacity: f.recentActive ? 1 : 0.35 });
        if (f.state === "replicate" && !f.paused) flow.setAttribute("class", "flow");
        else flow.setAttribute("stroke-dasharray", "2 7");
        g.appendChild(flow);
        const lag = rep.lastIndex - f.match;
        const label = f.state + (lag > 0 ? " · -" + lag : " · in sync");
        // Nearer the follower than the leader, where the lines converge.
        const mx = x1 + (x2 - x1) * 0.58, my = y1 + (y2 - y1) * 0.58;
        g.appendChild(s("text", { x: mx - uy * 12, y: my + ux * 12 + 3, class: "spoke-label" }, label));
      }
    }

    for (const m of ms) {
      const [x, y] = pos.get(m.id);
      const role = roleOf(m);
      const node = s("g", { "data-id": m.id, "data-role": role });
      if (role === "leader") node.setAttribute("class", "leader-glow");
      const title = s("title", {}, m.name + " (" + m.id + ")" + (m.up ? "" : ": " + (m.error || "down")));
      node.appendChild(title);
      node.appendChild(s("circle", { cx: x, cy: y, r: r + 5, fill: "none", stroke: colorOf(m.id), "stroke-width": 3,
        "stroke-dasharray": role === "learner" || role === "down" ? "5 5" : "none" }));
      node.appendChild(s("circle", { cx: x, cy: y, r, fill: ROLE_FILL[role] }));
      node.appendChild(s("text", { x, y: y - 2, class: "name", fill: role === "down" ? "#cbd5e1" : "#0f172a" }, m.name || m.id));
      node.appendChild(s("text", { x, y: y + 15, class: "role" }, role === "down" ? "DOWN" : role));
      if (role === "leader") {
        // A crown above the leader.
        const t = y - r - 10;
        node.appendChild(s("path", { d: "M" + (x - 17) + " " + t + " l4 -17 l8 9 l5 -13 l5 13 l8 -9 l4 17 z",
          fill: "#f5b301", stroke: "#0f172a", "stroke-width": 1.5 }));
      }
      const under = m.up ? "t" + m.term + " · c " + m.commit + " · a " + m.applied : (m.error || "no answer");
      // Above the nodes at the top of the ring (above the crown for a leader), below the others:
      // away from the lines, which run inwards.
      const top = ms.length > 1 && y < cy - R / 2;
      const ly = top ? y - r - (role === "leader" ? 38 : 12) : y + r + 20;
      node.appendChild(s("text", { x, y: ly, class: "under" }, under));
      g.appendChild(node);
    }
    if (ms.length === 0) g.appendChild(s("text", { x: cx, y: cy }, "no members"));
  }

  // ---------------------------------------------------------------- member cards

  function makeCard(id) {
    const c = h("div", { class: "card", "data-id": id });
    const head = h("div", { class: "card-head" });
    head.append(h("span", { class: "swatch" }), h("span", { class: "name" }), h("span", { class: "badge" }),
      h("span", { class: "id mono" }, id), h("a", { class: "open", target: "_blank" }, "open ↗"));
    const stats = h("div", { class: "stats" });
    for (const k of ["term", "commit", "applied", "keys"]) {
      const d = h("div", { "data-k": k });
      d.append(h("span", {}, k), h("b", {}, "–"));
      stats.appendChild(d);
    }
    const bar = h("div", { class: "bar" });
    bar.appendChild(h("div", { class: "fill" }));
    const actions = h("div", { class: "actions" });
    const lead = h("button", { class: "make-leader", type: "button" }, "make leader");
    const promote = h("button", { class: "promote", type: "button" }, "promote");
    const remove = h("button", { class: "remove", type: "button" }, "remove");
    actions.append(lead, promote, remove);
    const msg = h("div", { class: "msg" });
    c.append(head, stats, bar, h("div", { class: "repl-text" }), actions, msg);

    lead.addEventListener("click", () => act(c, lead, "transferring leadership…", async () => {
      await api("POST", "/leader/transfer?to=" + encodeURIComponent(id));
      return nameOf(id) + " is now the leader";
    }));
    promote.addEventListener("click", () => act(c, promote, "promoting…", async () => {
      await api("POST", "/members/" + encodeURIComponent(id) + "/promote");
      return "promoted to voter";
    }));
    // Removing takes two clicks: the first arms the button for a few seconds.
    remove.addEventListener("click", () => {
      if (!remove.classList.contains("armed")) {
        remove.classList.add("armed");
        remove.textContent = "confirm remove";
        setTimeout(() => { remove.classList.remove("armed"); remove.textContent = "remove"; }, 4000);
        return;
      }
      remove.classList.remove("armed");
      remove.textContent = "remove";
      act(c, remove, "removing…", async () => {
        await api("DELETE", "/members/" + encodeURIComponent(id));
        return "removed";
      });
    });
    return c;
  }

  async function act(card, button, pending, run) {
    const msg = card.querySelector(".msg");
    card.dataset.busy = "1";
    button.disabled = true;
    say(msg, pending, "");
    try {
      say(msg, await run(), "ok", 6000);
    } catch (e) {
      say(msg, e.message, "err", 15000);
    } finally {
      delete card.dataset.busy;
      button.disabled = false;
      if (snap) renderCards();
    }
  }

  function renderCards() {
    const box = $("cards");
    const rep = snap.replication;
    const seen = new Set();
    for (const m of snap.members) {
      seen.add(m.id);
      let c = box.querySelector('.card[data-id="' + CSS.escape(m.id) + '"]');
      if (!c) c = makeCard(m.id);
      box.appendChild(c); // keeps the cards in membership order
      const role = roleOf(m);
      c.dataset.role = role;
      c.dataset.up = String(m.up);
      c.querySelector(".swatch").style.background = colorOf(m.id);
      c.querySelector(".name").textContent = (role === "leader" ? "♛ " : "") + (m.name || "(unnamed)");
      const badge = c.querySelector(".badge");
      badge.className = "badge " + role;
      badge.textContent = role + (m.isLearner && role !== "learner" ? " · learner" : "");
      const open = c.querySelector(".open");
      if (m.clientURL) open.setAttribute("href", m.clientURL + "/ui");
      else open.removeAttribute("href");
      const vals = { term: m.term, commit: m.commit, applied: m.applied, keys: m.keys };
      for (const k in vals) c.querySelector('[data-k="' + k + '"] b').textContent = m.up ? String(vals[k]) : "–";

      // The replication bar: the leader's match for this member against the leader's last index.
      const fill = c.querySelector(".fill");
      const text = c.querySelector(".repl-text");
      const p = rep && rep.followers.find((f) => f.id === m.id);
      if (rep && m.id === rep.leader) {
        fill.style.width = "100%";
        fill.style.background = "#f5b301";
        text.textContent = "leader · last index " + rep.lastIndex + " · commit " + rep.commit;
      } else if (p) {
        const frac = rep.lastIndex > 0 ? Math.min(1, p.match / rep.lastIndex) : 1;
        fill.style.width = (frac * 100).toFixed(1) + "%";
        fill.style.background = STATE_COLORS[p.state] || "#64748b";
        const lag = rep.lastIndex - p.match;
        text.textContent = p.state + (p.paused ? " (paused)" : "") + " · match " + p.match + " / " + rep.lastIndex +
          " · next " + p.next + (lag > 0 ? " · " + lag + " behind" : " · in sync") + (p.recentActive ? "" : " · inactive");
      } else {
        fill.style.width = "0%";
        text.textContent = m.up ? "no leader view" : "no answer: " + (m.error || "down");
      }

      if (!c.dataset.busy) {
        c.querySelector(".make-leader").disabled = role === "leader" || m.isLearner || !m.up;
        c.querySelector(".promote").disabled = !m.isLearner;
        c.querySelector(".promote").style.display = m.isLearner ? "" : "none";
      }
    }
    for (const c of [...box.children]) if (!seen.has(c.dataset.id)) c.remove();
  }

  // ---------------------------------------------------------------- leader timeline

  function renderTimeline() {
    const g = clear($("timeline"));
    // Drawn in screen pixels so that labels are not stretched.
    const W = Math.max(300, g.clientWidth || 1000), H = 64, top = 6, bh = 34;
    g.setAttribute("viewBox", "0 0 " + W + " " + H);
    const ev = snap.timeline;
    const now = snap.at;
    if (ev.length === 0) {
      g.appendChild(s("text", { x: 8, y: 28, class: "axis" }, "no leader changes observed yet"));
      $("timeline-caption").textContent = "";
      return;
    }
    // From just before the first change (at most 10 minutes back, at least 20 s).
    const t0 = Math.max(now - 600000, Math.min(ev[0].at - 1000, now - 20000));
    const x = (t) => ((Math.max(t, t0) - t0) / (now - t0)) * W;
    const defs = s("defs");
    const pat = s("pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" });
    pat.append(s("rect", { width: 6, height: 6, fill: "#7f1d1d" }), s("rect", { width: 3, height: 6, fill: "#ef4444" }));
    defs.appendChild(pat);
    g.appendChild(defs);
    g.appendChild(s("rect", { x: 0, y: top, width: W, height: bh, fill: "#1f2937", rx: 4 }));
    if (x(ev[0].at) > 160) g.appendChild(s("text", { x: 8, y: top + 22, class: "axis" }, "before the first leader seen"));
    ev.forEach((e, i) => {
      const end = i + 1 < ev.length ? ev[i + 1].at : now;
      if (end < t0) return;
      const x1 = x(e.at), x2 = x(end);
      const election = e.leader === "0";
      const seg = s("rect", { x: x1, y: top, width: Math.max(2, x2 - x1), height: bh,
        fill: election ? "url(#hatch)" : colorOf(e.leader), "data-term": e.term, "data-leader": e.leader });
      seg.appendChild(s("title", {}, (election ? "election, term " + e.term : nameOf(e.leader) + " leads term " + e.term) +
        " · from " + new Date(e.at).toLocaleTimeString()));
      g.appendChild(seg);
      g.appendChild(s("line", { x1, x2: x1, y1: top - 4, y2: top + bh + 4, stroke: "#e2e8f0", "stroke-width": 1 }));
      if (!election && x2 - x1 > 70) g.appendChild(s("text", { x: x1 + 6, y: top + 22 }, "♛ " + nameOf(e.leader) + " · t" + e.term));
    });
    g.appendChild(s("text", { x: 0, y: H - 4, class: "axis" }, "-" + Math.round((now - t0) / 1000) + " s"));
    g.appendChild(s("text", { x: W, y: H - 4, class: "axis", "text-anchor": "end" }, "now"));

    const changes = ev.filter((e) => e.leader !== "0");
    const elections = new Set(ev.map((e) => e.term)).size;
    const last = changes[changes.length - 1];
    $("timeline-caption").textContent = changes.length + " leader changes · " + elections + " terms" +
      (last ? " · last: " + nameOf(last.leader) + " became leader in term " + last.term + ", " + fmtAgo(now - last.at) : "");
  }

  // ---------------------------------------------------------------- sparklines

  function sparkline(svg, values, color) {
    const g = clear(svg);
    const W = 300, H = 60;
    const nums = values.filter((v) => v !== null);
    const max = Math.max(1e-9, ...nums);
    const step = W / Math.max(1, values.length - 1);
    const y = (v) => H - 4 - (v / max) * (H - 10);
    // Break the line where there is no value (seconds without writes, for latency).
    let d = "", area = "", run = [];
    const dots = [];
    const flush = () => {
      if (run.length === 1) dots.push(run[0]);
      if (run.length === 0) return;
      d += "M" + run.map((p) => p[0].toFixed(1) + " " + p[1].toFixed(1)).join(" L");
      area += "M" + run[0][0].toFixed(1) + " " + H + " L" + run.map((p) => p[0].toFixed(1) + " " + p[1].toFixed(1)).join(" L") +
        " L" + run[run.length - 1][0].toFixed(1) + " " + H + " Z";
      run = [];
    };
    values.forEach((v, i) => { if (v === null) flush(); else run.push([i * step, y(v)]); });
    flush();
    g.appendChild(s("line", { x1: 0, x2: W, y1: H - 4, y2: H - 4, stroke: "#334155", "stroke-width": 1,
      "vector-effect": "non-scaling-stroke" }));
    g.appendChild(s("path", { d: area, fill: color, opacity: 0.18 }));
    g.appendChild(s("path", { d, fill: "none", stroke: color, "stroke-width": 2, "stroke-linejoin": "round",
      "vector-effect": "non-scaling-stroke" }));
    for (const p of dots) g.appendChild(s("rect", { x: p[0] - 1.5, y: p[1] - 1.5, width: 3, height: 3, fill: color }));
    return max;
  }

  function renderLoad() {
    const l = snap.load;
    const rates = l.series.map((p) => p.rate);
    const p99s = l.series.map((p) => p.p99Ms);
    const maxRate = sparkline($("spark-rate"), rates, "#38bdf8");
    const maxP99 = sparkline($("spark-p99"), p99s, "#f472b6");
    $("rate-big").firstChild.textContent = fmtRate(l.rate) + " /s";
    $("p99-big").firstChild.textContent = fmtMs(l.p99Ms) + " ms";
    $("rate-note").textContent = "writes/s over " + l.windowSec + " s · peak " + fmtRate(maxRate) + "/s in " + l.series.length + " s";
    $("p99-note").textContent = "p99 over " + l.windowSec + " s · peak " + (p99s.some((v) => v !== null) ? fmtMs(maxP99) : "–") + " ms";
  }

  // ---------------------------------------------------------------- add member

  $("add-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const msg = $("add-msg");
    const peer = $("add-peer").value.trim();
    const client = $("add-client").value.trim();
    const name = $("add-name").value.trim();
    if (peer === "") return say(msg, "a peer URL is required", "err");
    const body = { peerURLs: [peer], clientURLs: client ? [client] : [], learner: $("add-learner").checked };
    if (name) body.name = name;
    const button = $("add-submit");
    button.disabled = true;
    say(msg, "adding…", "");
    try {
      const r = await api("POST", "/members", body);
      const what = "added " + (r.member.name || "member") + " (" + r.member.id + ")";
      say(msg, what + (body.learner ? " as a learner" : " as a voter"), "ok", 10000);
      $("add-form").reset();
    } catch (e) {
      say(msg, e.message, "err");
    } finally {
      button.disabled = false;
    }
  });

  // ---------------------------------------------------------------- the stream

  function render() {
    colors = new Map(snap.members.map((m, i) => [m.id, MEMBER_COLORS[i % MEMBER_COLORS.length]]));
    renderHeader();
    renderRing();
    renderCards();
    renderTimeline();
    renderLoad();
    document.body.dataset.ready = "1";
  }

  function setConn(state, text) {
    const c = $("conn");
    c.className = state;
    c.querySelector(".text").textContent = text;
  }

  const es = new EventSource("/ui/events");
  es.onopen = () => setConn("live", "live");
  es.onerror = () => setConn("down", "reconnecting…");
  es.onmessage = (ev) => {
    lastMessage = Date.now();
    snap = JSON.parse(ev.data);
    setConn("live", "live");
    say($("notice-msg"), "", "");
    render();
  };
  es.addEventListener("problem", (ev) => say($("notice-msg"), JSON.parse(ev.data).message, "err"));
  setInterval(() => {
    if (lastMessage && Date.now() - lastMessage > 3000 && es.readyState === EventSource.OPEN) setConn("stale", "no update for " + fmtAgo(Date.now() - lastMessage).replace(" ago", ""));
  }, 1000);
})();
`;

/** The whole page. */
export function renderPage(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tsraft-kv cluster</title>
<link rel="icon" href="data:,">
<style>${PAGE_STYLE}</style>
</head>
<body>
<header>
  <h1>tsraft-kv <small id="served"></small></h1>
  <div class="kpi" id="term"><span class="label">term</span><span class="value">–</span></div>
  <div class="kpi" id="leader" data-id="0"><span class="label">leader</span><span class="value">–</span></div>
  <div class="kpi" id="quorum"><span class="label">voters up</span><span class="value">–</span></div>
  <div class="kpi" id="rate"><span class="label">proposals</span><span class="value">–</span></div>
  <div class="kpi" id="p99"><span class="label">p99 latency</span><span class="value">–</span></div>
  <div id="conn"><span class="dot"></span><span class="text">connecting…</span></div>
</header>
<div id="notice"><div class="msg" id="notice-msg"></div></div>
<main>
  <section>
    <h2>Cluster</h2>
    <svg id="ring" viewBox="0 0 440 440" role="img" aria-label="cluster members and replication"></svg>
    <div class="legend">
      <span><i class="node" style="background:#f5b301"></i>leader</span>
      <span><i class="node" style="background:#3b82f6"></i>follower</span>
      <span><i class="node" style="background:#f97316"></i>candidate</span>
      <span><i class="node" style="background:#2dd4bf"></i>learner</span>
      <span><i class="node" style="background:#374151"></i>down</span>
    </div>
    <div class="legend">
      <span><i class="edge" style="background:#22c55e"></i>replicate</span>
      <span><i class="edge" style="background:#f59e0b"></i>probe</span>
      <span><i class="edge" style="background:#a855f7"></i>snapshot</span>
      <span>lines: the leader's log stream to each follower, labelled with its lag</span>
    </div>
  </section>
  <section>
    <h2>Members</h2>
    <div id="cards"></div>
    <h2 style="margin-top:16px">Add member</h2>
    <form id="add-form">
      <input type="text" id="add-peer" placeholder="peer URL, e.g. http://127.0.0.1:2391" aria-label="peer URL">
      <input type="text" id="add-client" placeholder="client URL (optional)" aria-label="client URL">
      <input type="text" id="add-name" placeholder="name (optional)" aria-label="name" style="width:130px">
      <label><input type="checkbox" id="add-learner" checked> learner</label>
      <button type="submit" class="primary" id="add-submit">add member</button>
    </form>
    <div class="msg" id="add-msg"></div>
  </section>
  <section class="wide">
    <h2>Leaders and elections</h2>
    <svg id="timeline" viewBox="0 0 1000 64"></svg>
    <div id="timeline-caption"></div>
  </section>
  <section>
    <h2>Proposal rate</h2>
    <div class="spark"><div class="big" id="rate-big">–<small id="rate-note"></small></div>
      <svg id="spark-rate" viewBox="0 0 300 60" preserveAspectRatio="none"></svg></div>
  </section>
  <section>
    <h2>p99 write latency</h2>
    <div class="spark"><div class="big" id="p99-big">–<small id="p99-note"></small></div>
      <svg id="spark-p99" viewBox="0 0 300 60" preserveAspectRatio="none"></svg></div>
  </section>
</main>
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}
