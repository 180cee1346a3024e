// The console page: tabs over the services' own APIs (api.js), live graphs from
// GET /console/live (graph.js), a record browser with KPL deaggregation (kpl.js).
// Polls are modest (the stream list every 5 s, the selected stream's shards and
// leases every 2 s, functions and delivery streams every 5 s, each only while its tab
// shows) and everything pauses while the tab is hidden.

import { Api, ApiError, sha256js, hmacjs, hex } from "./api.js";
import * as kpl from "./kpl.js";
import { Graph, Series } from "./graph.js";

const $ = (sel) => document.querySelector(sel);

/** A DOM element: attributes (`class`, `data-*`, `text`, event `on*`), children. */
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function fmtNum(v) {
  if (!Number.isFinite(v)) return "–";
  if (v === 0) return "0";
  if (Math.abs(v) < 10) return v.toFixed(1);
  return Math.round(v).toLocaleString("en-US");
}

function fmtCount(v) {
  return Number.isFinite(v) ? Math.round(v).toLocaleString("en-US") : "–";
}

function fmtBytes(v) {
  if (!Number.isFinite(v)) return "–";
  const units = ["B", "KiB", "MiB", "GiB"];
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

function fmtAge(ms) {
  if (!Number.isFinite(ms)) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60000)} min`;
}

function fmtTime(v) {
  if (v === undefined || v === null || v === "") return "–";
  const d = typeof v === "number" ? new Date(v < 1e11 ? v * 1000 : v) : new Date(v);
  return Number.isNaN(d.getTime()) ? String(v) : d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** Shows a figure in a cell, keeping the raw number for whoever checks it. */
function setFigure(cell, value, fmt) {
  if (!cell) return;
  cell.dataset.value = String(value ?? 0);
  cell.textContent = fmt(value ?? 0);
}

const TWO128 = 1n << 128n;
function hashPercent(s) {
  try {
    return Number((BigInt(s) * 10000n) / TWO128) / 100;
  } catch {
    return NaN;
  }
}

/** The offset inside its shard of a sequence number (its low 64 bits). */
function seqOffset(seq) {
  try {
    return BigInt(seq) & ((1n << 64n) - 1n);
  } catch {
    return null;
  }
}

const state = {
  api: null,
  started: false,
  tab: "streams",
  streams: [],
  summaries: new Map(),
  selected: sessionStorage.getItem("freshet-console-stream"),
  shards: [],
  shardsKey: "",
  consumers: [],
  leases: new Map(),
  extraTables: new Set(),
  live: null,
  liveConn: null,
  history: new Map(),
  totals: new Map(),
  graphs: new Map(),
  errors: new Map(),
  br: { pages: [], current: null, shards: [] },
};

// --- Errors: the last failure of each poll, shown until that poll succeeds.
function setError(name, e) {
  if (e) {
    if (e instanceof ApiError && e.isAuth && state.api.config.auth) {
      signOut(`The server refused the keys: ${e.type}.`);
      return;
    }
    state.errors.set(name, e.message || String(e));
  } else state.errors.delete(name);
  const box = $("#error");
  box.textContent = [...state.errors.values()].join(" · ");
  box.hidden = state.errors.size === 0;
}

// --- Polls: each runs again `every` ms after it finished, only while the tab it
// serves shows and the page is visible.
const polls = [];
function poll(name, every, tabs, fn) {
  polls.push({ name, every, tabs, fn, timer: null, running: false });
}

function pollActive(p) {
  return state.started && document.visibilityState === "visible" && p.tabs.includes(state.tab);
}

function runPoll(p) {
  clearTimeout(p.timer);
  p.timer = null;
  if (!pollActive(p) || p.running) return;
  p.running = true;
  Promise.resolve()
    .then(p.fn)
    .then(
      () => setError(p.name, null),
      (e) => setError(p.name, e),
    )
    .finally(() => {
      p.running = false;
      $("#requests").textContent = `${state.api.requests} API requests from this tab.`;
      if (pollActive(p)) p.timer = setTimeout(() => runPoll(p), p.every);
    });
}

function refresh(...names) {
  for (const p of polls) if (names.includes(p.name)) runPoll(p);
}

function schedule() {
  for (const p of polls) {
    if (pollActive(p)) {
      if (!p.timer && !p.running) runPoll(p);
    } else {
      clearTimeout(p.timer);
      p.timer = null;
    }
  }
  const wantLive = state.started && document.visibilityState === "visible";
  if (wantLive && !state.liveConn) state.liveConn = state.api.live(onLive, onLiveState);
  if (!wantLive && state.liveConn) {
    state.liveConn.stop();
    state.liveConn = null;
  }
}

// --- Streams.
async function listAll(action, input, listKey, nextKey, nextInput) {
  const out = [];
  let req = { ...input };
  for (let i = 0; i < 100; i++) {
    const r = await state.api.kinesis(action, req);
    out.push(...(r[listKey] || []));
    if (!r[nextKey]) break;
    req = nextInput(r);
  }
  return out;
}

async function pollStreams() {
  const names = [];
  let req = { Limit: 100 };
  for (let i = 0; i < 100; i++) {
    const r = await state.api.kinesis("ListStreams", req);
    names.push(...(r.StreamNames || []));
    if (!r.HasMoreStreams || !names.length) break;
    req = { Limit: 100, ExclusiveStartStreamName: names[names.length - 1] };
  }
  const described = await Promise.allSettled(
    names.map((n) => state.api.kinesis("DescribeStreamSummary", { StreamName: n })),
  );
  state.streams = names;
  state.summaries = new Map();
  described.forEach((d, i) => {
    if (d.status === "fulfilled") state.summaries.set(names[i], d.value.StreamDescriptionSummary);
  });
  if (!state.selected || !names.includes(state.selected)) selectStream(names[0] || null, false);
  renderStreams();
  renderBrowseStreams();
}

function renderStreams() {
  const body = $("#stream-table tbody");
  body.replaceChildren(
    ...state.streams.map((name) => {
      const s = state.summaries.get(name) || {};
      return h(
        "tr",
        { "data-stream": name, class: name === state.selected ? "selected" : "" },
        h("td", {}, h("a", { href: "#streams", class: "select-stream", text: name, onclick: (e) => { e.preventDefault(); selectStream(name, true); } })),
        h("td", { class: "status", text: s.StreamStatus || "–" }),
        h("td", { text: (s.StreamModeDetails && s.StreamModeDetails.StreamMode) || "–" }),
        h("td", { class: "num open-shards", "data-value": s.OpenShardCount ?? "", text: s.OpenShardCount ?? "–" }),
        h("td", { class: "num", text: s.RetentionPeriodHours ?? "–" }),
        h("td", { class: "num in-rps" }),
        h("td", { class: "num in-bps" }),
        h("td", { class: "num out-rps" }),
        h("td", { class: "num consumers", text: s.ConsumerCount ?? 0 }),
      );
    }),
  );
  $("#stream-count").textContent = `(${state.streams.length})`;
  $("#no-streams").hidden = state.streams.length > 0;
  applyLiveToStreams();
}

function selectStream(name, user) {
  if (name === state.selected && !user) return;
  state.selected = name;
  if (name) sessionStorage.setItem("freshet-console-stream", name);
  state.shards = [];
  state.shardsKey = "";
  state.consumers = [];
  state.leases = new Map();
  state.extraTables = new Set();
  $("#stream-detail").hidden = !name;
  $("#detail-name").textContent = name || "";
  $("#lineage").replaceChildren();
  $("#shard-table tbody").replaceChildren();
  $("#consumer-table tbody").replaceChildren();
  $("#kcl").replaceChildren();
  for (const tr of document.querySelectorAll("#stream-table tbody tr")) tr.classList.toggle("selected", tr.dataset.stream === name);
  if (name) {
    mountTotals();
    refresh("shards", "consumers", "leases");
  }
}

async function pollShards() {
  const name = state.selected;
  if (!name) return;
  const shards = await listAll("ListShards", { StreamName: name, MaxResults: 1000 }, "Shards", "NextToken", (r) => ({ NextToken: r.NextToken, MaxResults: 1000 }));
  if (name !== state.selected) return;
  state.shards = shards;
  const key = shards.map((s) => `${s.ShardId}:${s.SequenceNumberRange.EndingSequenceNumber ? "c" : "o"}`).join(",");
  if (key !== state.shardsKey) {
    state.shardsKey = key;
    renderLineage();
    renderShardTable();
  }
  applyLiveToShards();
}

function isClosed(s) {
  return Boolean(s.SequenceNumberRange && s.SequenceNumberRange.EndingSequenceNumber);
}

function rangeText(s) {
  const a = hashPercent(s.HashKeyRange.StartingHashKey);
  const b = hashPercent(s.HashKeyRange.EndingHashKey);
  return `${a.toFixed(1)}–${b.toFixed(1)} %`;
}

function renderLineage() {
  const shards = state.shards;
  const byId = new Map(shards.map((s) => [s.ShardId, s]));
  const children = new Map();
  const roots = [];
  for (const s of shards) {
    const parent = [s.ParentShardId, s.AdjacentParentShardId].find((p) => p && byId.has(p));
    if (parent) {
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(s);
    } else roots.push(s);
  }
  const node = (s) => {
    const kids = children.get(s.ShardId) || [];
    const merged = s.AdjacentParentShardId ? ` · merged from ${s.ParentShardId} and ${s.AdjacentParentShardId}` : "";
    return h(
      "li",
      { "data-shard": s.ShardId, class: isClosed(s) ? "closed" : "open" },
      h("span", { class: "node" }, s.ShardId, " ", h("small", { text: `${isClosed(s) ? "closed" : "open"} · ${rangeText(s)}${merged}` })),
      kids.length ? h("ul", {}, kids.map(node)) : null,
    );
  };
  $("#lineage").replaceChildren(h("ul", { class: "tree" }, roots.map(node)));
}

function shardGraphs(key) {
  let g = state.graphs.get(key);
  if (!g) {
    g = { records: new Graph(160, 34, "records per second"), bytes: new Graph(160, 34, "bytes per second") };
    state.graphs.set(key, g);
  }
  return g;
}

function history(key) {
  let s = state.history.get(key);
  if (!s) {
    s = { inRps: new Series(), outRps: new Series(), inBps: new Series(), outBps: new Series() };
    state.history.set(key, s);
  }
  return s;
}

function renderShardTable() {
  const name = state.selected;
  const rows = [...state.shards]
    .sort((a, b) => Number(isClosed(a)) - Number(isClosed(b)) || a.ShardId.localeCompare(b.ShardId))
    .map((s) => {
      const g = shardGraphs(`${name}/${s.ShardId}`);
      return h(
        "tr",
        { "data-shard": s.ShardId, class: isClosed(s) ? "closed" : "" },
        h("td", { text: s.ShardId }),
        h("td", { text: isClosed(s) ? "closed" : "open" }),
        h("td", { text: rangeText(s) }),
        h("td", { class: "num records" }),
        h("td", { class: "graph-cell" }, g.records.svg),
        h("td", { class: "num in-rps" }),
        h("td", { class: "num out-rps" }),
        h("td", { class: "graph-cell" }, g.bytes.svg),
        h("td", { class: "num in-bps" }),
        h("td", { class: "num out-bps" }),
        h("td", { class: "num age" }),
      );
    });
  $("#shard-table tbody").replaceChildren(...rows);
  drawShardGraphs();
}

function mountTotals() {
  const key = `${state.selected}/*`;
  if (!state.graphs.has(key)) {
    state.graphs.set(key, { records: new Graph(320, 70, "stream records per second"), bytes: new Graph(320, 70, "stream bytes per second") });
  }
  const t = state.graphs.get(key);
  t.records.svg.id = "total-records-graph";
  t.bytes.svg.id = "total-bytes-graph";
  $("#total-records-slot").replaceChildren(t.records.svg);
  $("#total-bytes-slot").replaceChildren(t.bytes.svg);
}

function drawShardGraphs() {
  const name = state.selected;
  if (!name) return;
  const keys = [`${name}/*`, ...state.shards.map((s) => `${name}/${s.ShardId}`)];
  for (const key of keys) {
    const g = state.graphs.get(key);
    if (!g) continue;
    const s = history(key);
    g.records.draw([{ series: s.inRps, cls: "in" }, { series: s.outRps, cls: "out" }], fmtNum);
    g.bytes.draw([{ series: s.inBps, cls: "in" }, { series: s.outBps, cls: "out" }], fmtBytes);
  }
}

async function pollConsumers() {
  const name = state.selected;
  const arn = name && state.summaries.get(name) && state.summaries.get(name).StreamARN;
  if (!arn) return;
  const consumers = await listAll("ListStreamConsumers", { StreamARN: arn, MaxResults: 100 }, "Consumers", "NextToken", (r) => ({ StreamARN: arn, NextToken: r.NextToken }));
  if (name !== state.selected) return;
  state.consumers = consumers;
  renderConsumers();
}

function renderConsumers() {
  const efo = (state.live && state.live.efo) || [];
  $("#consumer-table tbody").replaceChildren(
    ...state.consumers.map((c) => {
      const subs = efo.filter((e) => e.consumer === c.ConsumerARN);
      return h(
        "tr",
        { "data-consumer": c.ConsumerName },
        h("td", { title: c.ConsumerARN, text: c.ConsumerName }),
        h("td", { text: c.ConsumerStatus }),
        h("td", { text: fmtTime(c.ConsumerCreationTimestamp) }),
        h("td", { class: "num subscriptions", "data-value": subs.length, text: subs.length }),
        h("td", { text: subs.map((e) => `${e.shard} (${fmtAge(e.forMs)})`).join(", ") || "–" }),
      );
    }),
  );
  $("#no-consumers").hidden = state.consumers.length > 0;
}

function kclTables() {
  const name = state.selected;
  const seen = ((state.live && state.live.kcl) || []).filter((k) => k.stream === name).map((k) => k.table);
  return [...new Set([...seen, ...state.extraTables])].sort();
}

async function pollLeases() {
  const name = state.selected;
  if (!name) return;
  const tables = kclTables();
  const results = await Promise.allSettled(tables.map((t) => state.api.leases("ListLeases", { StreamName: name, TableName: t })));
  if (name !== state.selected) return;
  state.leases = new Map();
  results.forEach((r, i) => state.leases.set(tables[i], r.status === "fulfilled" ? { leases: r.value.Leases || [] } : { error: r.reason }));
  renderLeases();
}

function leaseDoc(l) {
  const { text, exact } = kpl.asText(kpl.fromBase64(l.Value));
  if (!exact) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

function renderLeases() {
  const shards = (state.live && state.live.streams && state.live.streams[state.selected] && state.live.streams[state.selected].shards) || {};
  const seen = new Map(((state.live && state.live.kcl) || []).filter((k) => k.stream === state.selected).map((k) => [k.table, k.seenMs]));
  const blocks = [];
  for (const [table, r] of state.leases) {
    const title = h("h4", { "data-table": table }, table, " ", h("small", { text: seen.has(table) ? `used ${fmtAge(Date.now() - seen.get(table))} ago` : "named here" }));
    if (r.error) {
      blocks.push(title, h("p", { class: "bad", text: r.error.message }));
      continue;
    }
    let total = 0n;
    const rows = r.leases.map((l) => {
      const doc = leaseDoc(l);
      const cp = doc && doc.checkpoint;
      let where = "–";
      let lag = null;
      const next = shards[l.Key] && shards[l.Key].next;
      if (cp) {
        if (cp.kind === "SEQUENCE") {
          where = `${cp.sequence}${cp.sub_sequence ? ` (sub ${cp.sub_sequence})` : ""}`;
          const off = seqOffset(cp.sequence);
          if (off !== null && Number.isFinite(next)) lag = BigInt(next) - 1n - off;
        } else {
          where = cp.kind;
          if (cp.kind === "SHARD_END") lag = 0n;
          if (cp.kind === "TRIM_HORIZON" && Number.isFinite(next)) lag = BigInt(next);
        }
      }
      if (lag !== null && lag < 0n) lag = 0n;
      if (lag !== null) total += lag;
      return h(
        "tr",
        { "data-lease": l.Key },
        h("td", { text: l.Key }),
        h("td", { class: "owner", text: (doc && doc.owner) || (doc ? "(free)" : "–") }),
        h("td", { class: "checkpoint", text: where }),
        h("td", { class: "num lag", "data-value": lag === null ? "" : String(lag), text: lag === null ? "–" : lag.toLocaleString("en-US") }),
        h("td", { class: "num", text: l.Counter }),
        h("td", { text: (doc && doc.parents && doc.parents.join(", ")) || "–" }),
        h("td", { text: doc ? String(doc.owner_switches ?? 0) : "–" }),
      );
    });
    blocks.push(
      title,
      h(
        "table",
        { class: "grid kcl-table", "data-table": table },
        h("thead", {}, h("tr", {}, ["Lease (shard)", "Owner", "Checkpoint", "Lag (records)", "Counter", "Parents", "Owner changes"].map((t, i) => h("th", { class: i === 3 || i === 4 || i === 6 ? "num" : "", text: t })))),
        h("tbody", {}, rows),
      ),
      h("p", { class: "quiet", text: `${r.leases.length} leases · ${total.toLocaleString("en-US")} records behind in all` }),
    );
  }
  $("#kcl").replaceChildren(...blocks);
  $("#no-kcl").hidden = state.leases.size > 0;
}

// --- Live figures.
function onLiveState(s) {
  $("#live-state").dataset.state = s;
}

function onLive(doc) {
  const before = kclTables().join(",");
  state.live = doc;
  const streams = doc.streams || {};
  for (const [name, st] of Object.entries(streams)) {
    const t = history(`${name}/*`);
    t.inRps.push(st.inRps);
    t.outRps.push(st.outRps);
    t.inBps.push(st.inBps);
    t.outBps.push(st.outBps);
    for (const [id, f] of Object.entries(st.shards || {})) {
      const s = history(`${name}/${id}`);
      s.inRps.push(f.inRps);
      s.outRps.push(f.outRps);
      s.inBps.push(f.inBps);
      s.outBps.push(f.outBps);
    }
  }
  for (const key of [...state.history.keys()]) {
    const name = key.slice(0, key.lastIndexOf("/"));
    if (!(name in streams) && name !== state.selected) {
      state.history.delete(key);
      state.graphs.delete(key);
    }
  }
  if (state.tab === "streams") {
    applyLiveToStreams();
    applyLiveToShards();
    drawShardGraphs();
    if (state.consumers.length) renderConsumers();
    if (kclTables().join(",") !== before) refresh("leases");
  }
  if (state.tab === "delivery") applyLiveToDelivery();
}

function applyLiveToStreams() {
  const streams = (state.live && state.live.streams) || {};
  for (const tr of document.querySelectorAll("#stream-table tbody tr")) {
    const st = streams[tr.dataset.stream] || {};
    setFigure(tr.querySelector(".in-rps"), st.inRps, fmtNum);
    setFigure(tr.querySelector(".in-bps"), st.inBps, fmtBytes);
    setFigure(tr.querySelector(".out-rps"), st.outRps, fmtNum);
  }
}

function applyLiveToShards() {
  const name = state.selected;
  const st = (state.live && state.live.streams && state.live.streams[name]) || { shards: {} };
  setFigure($("#total-in-rps"), st.inRps, fmtNum);
  setFigure($("#total-out-rps"), st.outRps, fmtNum);
  setFigure($("#total-in-bps"), st.inBps, fmtBytes);
  setFigure($("#total-out-bps"), st.outBps, fmtBytes);
  for (const tr of document.querySelectorAll("#shard-table tbody tr")) {
    const f = (st.shards || {})[tr.dataset.shard] || {};
    setFigure(tr.querySelector(".records"), f.next, fmtCount);
    setFigure(tr.querySelector(".in-rps"), f.inRps, fmtNum);
    setFigure(tr.querySelector(".out-rps"), f.outRps, fmtNum);
    setFigure(tr.querySelector(".in-bps"), f.inBps, fmtBytes);
    setFigure(tr.querySelector(".out-bps"), f.outBps, fmtBytes);
    setFigure(tr.querySelector(".age"), f.ageMs, fmtCount);
  }
}

// --- Functions.
async function pollFunctions() {
  const fns = [];
  let marker = null;
  for (let i = 0; i < 50; i++) {
    const r = await state.api.lambda("ListFunctions", "/2015-03-31/functions/", marker ? [["Marker", marker]] : []);
    fns.push(...(r.Functions || []));
    marker = r.NextMarker;
    if (!marker) break;
  }
  const maps = [];
  marker = null;
  for (let i = 0; i < 50; i++) {
    const r = await state.api.lambda("ListEventSourceMappings", "/2015-03-31/event-source-mappings/", marker ? [["Marker", marker]] : []);
    maps.push(...(r.EventSourceMappings || []));
    marker = r.NextMarker;
    if (!marker) break;
  }
  $("#function-table tbody").replaceChildren(
    ...fns.map((f) =>
      h(
        "tr",
        { "data-function": f.FunctionName },
        h("td", { title: f.FunctionArn, text: f.FunctionName }),
        h("td", { text: f.Runtime || "–" }),
        h("td", { text: f.Handler || "–" }),
        h("td", { class: "state", text: f.State || "–" }),
        h("td", { class: "num", text: f.MemorySize ?? "–" }),
        h("td", { class: "num", text: f.Timeout ?? "–" }),
        h("td", { text: fmtTime(f.LastModified) }),
      ),
    ),
  );
  $("#no-functions").hidden = fns.length > 0;
  const arnName = (arn) => (arn || "").split(":").slice(-1)[0];
  $("#mapping-table tbody").replaceChildren(
    ...maps.map((m) =>
      h(
        "tr",
        { "data-mapping": m.UUID },
        h("td", { class: "uuid", text: m.UUID }),
        h("td", { text: arnName(m.FunctionArn) }),
        h("td", { title: m.EventSourceArn, text: (m.EventSourceArn || "").split("/").slice(1).join("/") || m.EventSourceArn }),
        h("td", { class: "state", text: m.State || "–" }),
        h("td", { class: "num", text: m.BatchSize ?? "–" }),
        h("td", { text: m.StartingPosition || "–" }),
        h("td", { class: `last-result ${/^OK/.test(m.LastProcessingResult || "") ? "good" : /PROBLEM|fail/i.test(m.LastProcessingResult || "") ? "bad" : ""}`, text: m.LastProcessingResult || "–" }),
        h("td", { text: fmtTime(m.LastModified) }),
      ),
    ),
  );
  $("#no-mappings").hidden = maps.length > 0;
}

// --- Delivery streams.
function destinationText(d) {
  const dst = (d.Destinations || [])[0] || {};
  if (dst.ExtendedS3DestinationDescription) return `S3 ${dst.ExtendedS3DestinationDescription.BucketARN}`;
  if (dst.S3DestinationDescription) return `S3 ${dst.S3DestinationDescription.BucketARN}`;
  if (dst.RedshiftDestinationDescription) return `PostgreSQL ${dst.RedshiftDestinationDescription.ClusterJDBCURL}`;
  if (dst.HttpEndpointDestinationDescription) return `HTTP ${(dst.HttpEndpointDestinationDescription.EndpointConfiguration || {}).Url || ""}`;
  return Object.keys(dst).filter((k) => k !== "DestinationId").join(", ") || "–";
}

async function pollDelivery() {
  const names = [];
  let req = { Limit: 100 };
  for (let i = 0; i < 50; i++) {
    const r = await state.api.firehose("ListDeliveryStreams", req);
    names.push(...(r.DeliveryStreamNames || []));
    if (!r.HasMoreDeliveryStreams || !names.length) break;
    req = { Limit: 100, ExclusiveStartDeliveryStreamName: names[names.length - 1] };
  }
  const described = await Promise.allSettled(names.map((n) => state.api.firehose("DescribeDeliveryStream", { DeliveryStreamName: n })));
  $("#delivery-table tbody").replaceChildren(
    ...names.map((n, i) => {
      const d = described[i].status === "fulfilled" ? described[i].value.DeliveryStreamDescription : {};
      const src = d.Source && d.Source.KinesisStreamSourceDescription;
      return h(
        "tr",
        { "data-delivery": n },
        h("td", { title: d.DeliveryStreamARN || "", text: n }),
        h("td", { class: "status", text: d.DeliveryStreamStatus || "–" }),
        h("td", { text: src ? `Kinesis ${src.KinesisStreamARN.split("/").pop()}` : d.DeliveryStreamType || "–" }),
        h("td", { text: destinationText(d) }),
        h("td", { class: "num freshness" }),
        h("td", { class: "num records" }),
        h("td", { class: "num bytes" }),
        h("td", { class: "num objects" }),
        h("td", { class: "num failures" }),
      );
    }),
  );
  $("#no-delivery").hidden = names.length > 0;
  applyLiveToDelivery();
}

function applyLiveToDelivery() {
  const figures = (state.live && state.live.delivery) || {};
  for (const tr of document.querySelectorAll("#delivery-table tbody tr")) {
    const f = figures[tr.dataset.delivery];
    if (!f) continue;
    setFigure(tr.querySelector(".freshness"), f.freshnessMs, fmtAge);
    setFigure(tr.querySelector(".records"), f.records, fmtCount);
    setFigure(tr.querySelector(".bytes"), f.bytes, fmtBytes);
    setFigure(tr.querySelector(".objects"), f.objects, fmtCount);
    setFigure(tr.querySelector(".failures"), f.failures, fmtCount);
  }
}

// --- The record browser.
function renderBrowseStreams() {
  const sel = $("#br-stream");
  const current = sel.value || state.selected || "";
  const names = state.streams;
  if ([...sel.options].map((o) => o.value).join(",") === names.join(",")) return;
  sel.replaceChildren(...names.map((n) => h("option", { value: n, text: n })));
  if (names.includes(current)) sel.value = current;
  loadBrowseShards();
}

async function loadBrowseShards() {
  const name = $("#br-stream").value;
  if (!name) return;
  try {
    const shards = await listAll("ListShards", { StreamName: name, MaxResults: 1000 }, "Shards", "NextToken", (r) => ({ NextToken: r.NextToken, MaxResults: 1000 }));
    const sel = $("#br-shard");
    const keep = sel.value;
    sel.replaceChildren(...shards.map((s) => h("option", { value: s.ShardId, text: `${s.ShardId}${isClosed(s) ? " (closed)" : ""}` })));
    if (shards.some((s) => s.ShardId === keep)) sel.value = keep;
    setError("browse", null);
  } catch (e) {
    setError("browse", e);
  }
}

function formPosition() {
  const type = $("#br-type").value;
  const at = $("#br-at").value.trim();
  return { type, at };
}

function iteratorInput(stream, shard, pos) {
  const input = { StreamName: stream, ShardId: shard, ShardIteratorType: pos.type };
  if (pos.type === "AT_SEQUENCE_NUMBER" || pos.type === "AFTER_SEQUENCE_NUMBER") input.StartingSequenceNumber = pos.at;
  if (pos.type === "AT_TIMESTAMP") {
    const t = /^\d+(\.\d+)?$/.test(pos.at) ? Number(pos.at) : Date.parse(pos.at) / 1000;
    input.Timestamp = t;
  }
  return input;
}

/** Reads one page from `pos` (or with `iterator`, when it is still fresh). */
async function readPage(pos, iterator) {
  const stream = $("#br-stream").value;
  const shard = $("#br-shard").value;
  const limit = Number($("#br-limit").value);
  const status = $("#br-status");
  status.textContent = "Reading…";
  try {
    let it = iterator;
    if (!it) it = (await state.api.kinesis("GetShardIterator", iteratorInput(stream, shard, pos))).ShardIterator;
    let r = null;
    // A sparse shard may answer empty pages before the next records: go on a little.
    for (let i = 0; i < 10; i++) {
      r = await state.api.kinesis("GetRecords", { ShardIterator: it, Limit: limit });
      if ((r.Records || []).length || !r.NextShardIterator || !r.MillisBehindLatest) break;
      it = r.NextShardIterator;
    }
    const records = r.Records || [];
    state.br.current = { pos, stream, shard, records, next: r.NextShardIterator || null, at: Date.now(), behind: r.MillisBehindLatest };
    setError("browse", null);
    renderPage();
  } catch (e) {
    status.textContent = "";
    setError("browse", e);
  }
}

function renderPage() {
  const page = state.br.current;
  if (!page) return;
  const view = document.querySelector('input[name="view"]:checked').value;
  const items = page.records.map((r) => {
    const data = kpl.fromBase64(r.Data);
    const agg = kpl.deaggregate(data);
    const head = h(
      "header",
      {},
      h("span", { class: "seq", text: r.SequenceNumber }),
      h("span", { text: `arrived ${fmtTime(r.ApproximateArrivalTimestamp)}` }),
      h("span", { class: "pk", text: `key ${r.PartitionKey}` }),
      h("span", { text: `${data.length} bytes` }),
      agg && agg.ok ? h("span", { class: "agg", text: `KPL aggregate: ${agg.records.length} user records, MD5 ok` }) : null,
      agg && !agg.ok ? h("span", { class: "bad", text: `KPL magic, but ${agg.reason}: shown as one record` }) : null,
    );
    const body =
      agg && agg.ok
        ? h(
            "ol",
            { class: "user-records", start: 0 },
            agg.records.map((u) =>
              h(
                "li",
                { "data-sub": u.sub },
                h("div", { class: "meta" }, h("span", { text: `sub-sequence ${u.sub}` }), h("span", { class: "pk", text: `key ${u.partitionKey}` }), u.explicitHashKey ? h("span", { text: `hash key ${u.explicitHashKey}` }) : null, h("span", { text: `${u.data.length} bytes` })),
                h("pre", { class: "data", "data-view": view, text: kpl.render(u.data, view) }),
              ),
            ),
          )
        : h("pre", { class: "data", "data-view": view, text: kpl.render(data, view) });
    return h("article", { class: "record", "data-seq": r.SequenceNumber, "data-aggregated": agg && agg.ok ? "true" : "false" }, head, body);
  });
  $("#br-records").replaceChildren(...items);
  const n = state.br.pages.length + 1;
  $("#br-status").textContent = `${page.stream} / ${page.shard} · page ${n} · ${page.records.length} records · MillisBehindLatest ${page.behind ?? "–"} ms${page.next ? "" : " · shard closed and read to its end"}`;
  $("#br-prev").disabled = state.br.pages.length === 0;
  $("#br-next").disabled = !page.next;
}

function browseNext() {
  const page = state.br.current;
  if (!page || !page.next) return;
  state.br.pages.push(page.pos);
  const last = page.records[page.records.length - 1];
  // A position by sequence number survives iterator expiry; an empty page keeps its
  // iterator (LATEST waits for what comes next).
  if (last) readPage({ type: "AFTER_SEQUENCE_NUMBER", at: last.SequenceNumber });
  else readPage(page.pos, Date.now() - page.at < 240000 ? page.next : null);
}

function browsePrev() {
  const pos = state.br.pages.pop();
  if (pos) readPage(pos);
}

// --- Tabs, sign-in, start.
function showTab(tab) {
  if (!["streams", "records", "functions", "delivery"].includes(tab)) tab = "streams";
  state.tab = tab;
  for (const a of document.querySelectorAll("#tabs a")) a.classList.toggle("active", a.dataset.tab === tab);
  for (const s of document.querySelectorAll("section.tab")) s.hidden = !state.started || s.id !== `tab-${tab}`;
  if (tab === "records") loadBrowseShards();
  schedule();
}

function start() {
  state.started = true;
  $("#login").hidden = true;
  $("#tabs").hidden = false;
  const who = $("#whoami");
  who.hidden = !state.api.config.auth;
  who.textContent = state.api.creds ? `signed as ${state.api.creds.keyId}` : "";
  $("#sign-out").hidden = !state.api.config.auth;
  const selected = state.selected;
  state.selected = null;
  if (selected) selectStream(selected, false);
  showTab(location.hash.slice(1));
}

function signOut(message) {
  state.api.forgetKeys();
  state.started = false;
  schedule();
  for (const s of document.querySelectorAll("section.tab")) s.hidden = true;
  $("#tabs").hidden = true;
  $("#whoami").hidden = true;
  $("#sign-out").hidden = true;
  $("#login").hidden = false;
  const err = $("#login-error");
  err.textContent = message || "";
  err.hidden = !message;
}

async function signIn(e) {
  e.preventDefault();
  const keyId = $("#key-id").value.trim();
  const secret = $("#secret").value;
  state.api.setKeys(keyId, secret);
  try {
    await state.api.kinesis("ListStreams", { Limit: 1 });
    $("#secret").value = "";
    $("#login-error").hidden = true;
    start();
  } catch (err) {
    $("#secret").value = "";
    signOut(err instanceof ApiError && err.isAuth ? `The server refused these keys (${err.type}).` : `Cannot reach the server: ${err.message}`);
  }
}

poll("streams", 5000, ["streams", "records"], pollStreams);
poll("shards", 2000, ["streams"], pollShards);
poll("consumers", 5000, ["streams"], pollConsumers);
poll("leases", 2000, ["streams"], pollLeases);
poll("functions", 5000, ["functions"], pollFunctions);
poll("delivery", 5000, ["delivery"], pollDelivery);

async function boot() {
  const res = await fetch("/console/config.json", { cache: "no-store" });
  const config = await res.json();
  state.api = new Api(config);
  window.freshetConsole = { state, kpl, sha256js, hmacjs, hex, api: state.api, refresh };
  $("#login-form").addEventListener("submit", signIn);
  $("#sign-out").addEventListener("click", () => signOut("Signed out."));
  $("#kcl-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("#kcl-table").value.trim();
    if (t) {
      state.extraTables.add(t);
      $("#kcl-table").value = "";
      refresh("leases");
    }
  });
  $("#browse-form").addEventListener("submit", (e) => {
    e.preventDefault();
    state.br.pages = [];
    readPage(formPosition());
  });
  $("#br-stream").addEventListener("change", loadBrowseShards);
  $("#br-type").addEventListener("change", () => {
    $("#br-at-label").hidden = !/SEQUENCE|TIMESTAMP/.test($("#br-type").value);
  });
  $("#br-next").addEventListener("click", browseNext);
  $("#br-prev").addEventListener("click", browsePrev);
  for (const r of document.querySelectorAll('input[name="view"]')) r.addEventListener("change", renderPage);
  window.addEventListener("hashchange", () => showTab(location.hash.slice(1)));
  document.addEventListener("visibilitychange", schedule);
  if (state.api.needsKeys) signOut("");
  else start();
  document.body.dataset.ready = "true";
}

boot().catch((e) => {
  const box = $("#error");
  box.textContent = `The console could not start: ${e.message}`;
  box.hidden = false;
});
