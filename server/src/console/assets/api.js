// The services' own APIs, called as the AWS CLI and SDKs call them: Kinesis, Firehose
// and Freshet's lease actions in AWS JSON 1.1 (POST / with X-Amz-Target), Lambda's REST
// API, signed with SigV4 when the server runs with --auth. Plus the console's live
// event stream (GET /console/live), read with fetch so that it can be signed too.

const enc = new TextEncoder();

// --- SHA-256 and HMAC-SHA256: WebCrypto where the page is a secure context (https,
// localhost, 127.0.0.1), else this small implementation (a --console-addr reached over
// plain http from another host is not a secure context: crypto.subtle is missing).

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/** SHA-256 of bytes, in JavaScript. */
export function sha256js(bytes) {
  const h = new Uint32Array([
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
  ]);
  const bitLen = bytes.length * 8;
  const padded = new Uint8Array(((bytes.length + 9 + 63) >> 6) << 6);
  padded.set(bytes);
  padded[bytes.length] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, Math.floor(bitLen / 0x100000000));
  view.setUint32(padded.length - 4, bitLen >>> 0);
  const w = new Uint32Array(64);
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) w[i] = view.getUint32(off + i * 4);
    for (let i = 16; i < 64; i++) {
      const a = w[i - 15], b = w[i - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) >>> 0;
    }
    let [a, b, c, d, e, f, g, hh] = h;
    for (let i = 0; i < 64; i++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[i] + w[i]) >>> 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0;
      d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
  const out = new Uint8Array(32);
  const ov = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) ov.setUint32(i * 4, h[i]);
  return out;
}

/** HMAC-SHA256 of bytes under a key, in JavaScript. */
export function hmacjs(key, data) {
  let k = key.length > 64 ? sha256js(key) : key;
  const block = new Uint8Array(64);
  block.set(k);
  const inner = new Uint8Array(64 + data.length);
  const outer = new Uint8Array(64 + 32);
  for (let i = 0; i < 64; i++) {
    inner[i] = block[i] ^ 0x36;
    outer[i] = block[i] ^ 0x5c;
  }
  inner.set(data, 64);
  outer.set(sha256js(inner), 64);
  return sha256js(outer);
}

const subtle = globalThis.crypto && globalThis.crypto.subtle;

async function sha256(bytes) {
  if (subtle) return new Uint8Array(await subtle.digest("SHA-256", bytes));
  return sha256js(bytes);
}

async function hmac(key, data) {
  if (subtle) {
    const k = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Uint8Array(await subtle.sign("HMAC", k, data));
  }
  return hmacjs(key, data);
}

export function hex(bytes) {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** AWS's URI encoding: RFC 3986 unreserved characters kept, the rest %XX. */
function uriEncode(s, keepSlash) {
  let out = "";
  for (const b of enc.encode(s)) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c) || (keepSlash && c === "/")) out += c;
    else out += "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

function amzDate(d) {
  return d.toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
}

/**
 * Signs a request with SigV4 (header form), as the AWS SDKs do: the headers to add.
 * `path` and `query` are as sent (query: [[name, value]]), `body` bytes.
 */
export async function signV4({ method, path, query, headers, body, service, region, creds, now }) {
  const date = amzDate(now || new Date());
  const day = date.slice(0, 8);
  const all = { ...headers, host: location.host, "x-amz-date": date };
  const names = Object.keys(all).map((n) => n.toLowerCase()).sort();
  const lower = {};
  for (const [k, v] of Object.entries(all)) lower[k.toLowerCase()] = String(v).trim().replace(/\s+/g, " ");
  const canonicalHeaders = names.map((n) => `${n}:${lower[n]}\n`).join("");
  const signed = names.join(";");
  const canonicalQuery = (query || [])
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)])
    .sort((a, b) => (a[0] === b[0] ? (a[1] < b[1] ? -1 : 1) : a[0] < b[0] ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const payloadHash = hex(await sha256(body));
  const canonical = [method, uriEncode(path, true), canonicalQuery, canonicalHeaders, signed, payloadHash].join("\n");
  const scope = `${day}/${region}/${service}/aws4_request`;
  const toSign = ["AWS4-HMAC-SHA256", date, scope, hex(await sha256(enc.encode(canonical)))].join("\n");
  let key = await hmac(enc.encode("AWS4" + creds.secret), enc.encode(day));
  key = await hmac(key, enc.encode(region));
  key = await hmac(key, enc.encode(service));
  key = await hmac(key, enc.encode("aws4_request"));
  const signature = hex(await hmac(key, enc.encode(toSign)));
  return {
    "x-amz-date": date,
    authorization: `AWS4-HMAC-SHA256 Credential=${creds.keyId}/${scope}, SignedHeaders=${signed}, Signature=${signature}`,
  };
}

/** An error reply of an AWS API. */
export class ApiError extends Error {
  constructor(status, type, message, operation) {
    super(`${operation}: ${type}: ${message}`);
    this.status = status;
    this.type = type;
    this.operation = operation;
  }
  /** Whether the keys were refused (wrong, unknown or missing). */
  get isAuth() {
    return /Signature|UnrecognizedClient|MissingAuthentication|IncompleteSignature|InvalidClientTokenId/.test(this.type);
  }
}

const CREDS_KEY = "freshet-console-keys";

/** The client of one server: its console settings and the keys of this tab. */
export class Api {
  constructor(config) {
    this.config = config;
    this.region = config.region || "us-east-1";
    this.requests = 0;
    const stored = sessionStorage.getItem(CREDS_KEY);
    this.creds = stored ? JSON.parse(stored) : null;
  }

  get needsKeys() {
    return this.config.auth && !this.creds;
  }

  setKeys(keyId, secret) {
    this.creds = { keyId, secret };
    sessionStorage.setItem(CREDS_KEY, JSON.stringify(this.creds));
  }

  forgetKeys() {
    this.creds = null;
    sessionStorage.removeItem(CREDS_KEY);
  }

  async headers(method, path, query, headers, body, service) {
    if (!this.config.auth) return headers;
    if (!this.creds) throw new ApiError(0, "MissingAuthenticationTokenException", "No keys entered.", "sign");
    const extra = await signV4({ method, path, query, headers, body, service, region: this.region, creds: this.creds });
    return { ...headers, ...extra };
  }

  async send(operation, method, path, query, headers, bodyText, service, signal) {
    const body = enc.encode(bodyText || "");
    const h = await this.headers(method, path, query, headers, body, service);
    const qs = (query || []).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
    this.requests++;
    const res = await fetch(path + (qs ? "?" + qs : ""), {
      method,
      headers: h,
      body: method === "GET" ? undefined : body,
      cache: "no-store",
      signal,
    });
    const text = await res.text();
    let doc = {};
    try {
      doc = text ? JSON.parse(text) : {};
    } catch {
      doc = { message: text };
    }
    if (!res.ok) {
      const type = (doc.__type || doc.Type || res.headers.get("x-amzn-ErrorType") || `HTTP${res.status}`).split("#").pop();
      throw new ApiError(res.status, type, doc.message || doc.Message || text, operation);
    }
    return doc;
  }

  /** An AWS JSON 1.1 call: `target` is `Kinesis_20131202.ListStreams` and the like. */
  json(target, input, service) {
    return this.send(
      target.split(".").pop(),
      "POST",
      "/",
      [],
      { "content-type": "application/x-amz-json-1.1", "x-amz-target": target },
      JSON.stringify(input || {}),
      service,
    );
  }

  kinesis(action, input) {
    return this.json(`Kinesis_20131202.${action}`, input, "kinesis");
  }

  leases(action, input) {
    return this.json(`Freshet_20261126.${action}`, input, "kinesis");
  }

  firehose(action, input) {
    return this.json(`Firehose_20150804.${action}`, input, "firehose");
  }

  /** A Lambda REST read, `GET path`. */
  lambda(operation, path, query) {
    return this.send(operation, "GET", path, query || [], {}, "", "lambda");
  }

  /**
   * Follows GET /console/live: calls `onDoc` with each document and `onState` with
   * "open" / "closed" / "error"; reconnects after a pause until `stop()`.
   */
  live(onDoc, onState) {
    let controller = null;
    let stopped = false;
    let timer = null;
    const connect = async () => {
      if (stopped) return;
      controller = new AbortController();
      try {
        const h = await this.headers("GET", "/console/live", [], { accept: "text/event-stream" }, new Uint8Array(), "kinesis");
        const res = await fetch("/console/live", { headers: h, cache: "no-store", signal: controller.signal });
        if (!res.ok) {
          const text = await res.text();
          let doc = {};
          try { doc = JSON.parse(text); } catch { doc = { message: text }; }
          throw new ApiError(res.status, doc.__type || `HTTP${res.status}`, doc.message || text, "live");
        }
        onState("open");
        const reader = res.body.getReader();
        const dec = new TextDecoder();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += dec.decode(value, { stream: true });
          let cut;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            const event = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const data = event
              .split("\n")
              .filter((l) => l.startsWith("data:"))
              .map((l) => l.slice(5).trimStart())
              .join("\n");
            if (data) {
              try {
                onDoc(JSON.parse(data));
              } catch {
                /* a torn document: the next one comes in a second */
              }
            }
          }
        }
        if (!stopped) onState("closed");
      } catch (e) {
        if (stopped) return;
        onState("error", e);
      }
      if (!stopped) timer = setTimeout(connect, 2000);
    };
    connect();
    return {
      stop() {
        stopped = true;
        clearTimeout(timer);
        if (controller) controller.abort();
        onState("closed");
      },
    };
  }
}
