// Record data as the record browser shows it: KPL aggregates taken apart (the format of
// protocol/src/kpl: magic F3 89 9A C2, an AggregatedRecord protobuf, the MD5 of the
// protobuf), and text, JSON and hex views of bytes.

export const MAGIC = [0xf3, 0x89, 0x9a, 0xc2];
const DIGEST_LEN = 16;

// --- MD5 (RFC 1321); WebCrypto has none.
const S = [
  7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
  4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];
const T = new Uint32Array(64);
for (let i = 0; i < 64; i++) T[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 0x100000000) >>> 0;

/** The MD5 digest of bytes. */
export function md5(bytes) {
  const len = bytes.length;
  const padded = new Uint8Array(((len + 8) >> 6) * 64 + 64);
  padded.set(bytes);
  padded[len] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, (len * 8) >>> 0, true);
  view.setUint32(padded.length - 4, Math.floor(len / 0x20000000), true);
  let a0 = 0x67452301, b0 = 0xefcdab89, c0 = 0x98badcfe, d0 = 0x10325476;
  const m = new Uint32Array(16);
  for (let off = 0; off < padded.length; off += 64) {
    for (let i = 0; i < 16; i++) m[i] = view.getUint32(off + i * 4, true);
    let a = a0, b = b0, c = c0, d = d0;
    for (let i = 0; i < 64; i++) {
      let f, g;
      if (i < 16) { f = (b & c) | (~b & d); g = i; }
      else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
      else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
      else { f = c ^ (b | ~d); g = (7 * i) % 16; }
      const x = (a + f + T[i] + m[g]) >>> 0;
      a = d; d = c; c = b;
      b = (b + ((x << S[i]) | (x >>> (32 - S[i])))) >>> 0;
    }
    a0 = (a0 + a) >>> 0; b0 = (b0 + b) >>> 0; c0 = (c0 + c) >>> 0; d0 = (d0 + d) >>> 0;
  }
  const out = new Uint8Array(16);
  const ov = new DataView(out.buffer);
  [a0, b0, c0, d0].forEach((v, i) => ov.setUint32(i * 4, v, true));
  return out;
}

// --- A protobuf reader for the two messages of the format.
class Reader {
  constructor(bytes) {
    this.b = bytes;
    this.i = 0;
  }
  get done() {
    return this.i >= this.b.length;
  }
  varint() {
    let v = 0n, shift = 0n;
    for (;;) {
      if (this.i >= this.b.length || shift > 63n) throw new Error("truncated varint");
      const byte = this.b[this.i++];
      v |= BigInt(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return v;
      shift += 7n;
    }
  }
  bytes() {
    const n = Number(this.varint());
    if (this.i + n > this.b.length) throw new Error("truncated field");
    const out = this.b.subarray(this.i, this.i + n);
    this.i += n;
    return out;
  }
  skip(wire) {
    if (wire === 0) this.varint();
    else if (wire === 1) this.i += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.i += 4;
    else throw new Error(`wire type ${wire}`);
    if (this.i > this.b.length) throw new Error("truncated field");
  }
  *fields() {
    while (!this.done) {
      const key = Number(this.varint());
      yield [key >> 3, key & 7];
    }
  }
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function parseRecord(bytes) {
  const r = new Reader(bytes);
  const rec = { pk: null, ehk: null, data: new Uint8Array(), tags: [] };
  for (const [field, wire] of r.fields()) {
    if (field === 1 && wire === 0) rec.pk = Number(r.varint());
    else if (field === 2 && wire === 0) rec.ehk = Number(r.varint());
    else if (field === 3 && wire === 2) rec.data = r.bytes();
    else r.skip(wire);
  }
  if (rec.pk === null) throw new Error("a record without its partition key index");
  return rec;
}

/**
 * Takes a Kinesis record's data apart when it is a KPL aggregate: `null` when it is not
 * one (no magic), else `{ok, reason, md5ok, records: [{sub, partitionKey,
 * explicitHashKey, data}]}`. A blob with the magic whose digest or protobuf does not
 * check out is reported (`ok: false`) and, as the KCL does, read as one plain record.
 */
export function deaggregate(data) {
  if (data.length < MAGIC.length || MAGIC.some((m, i) => data[i] !== m)) return null;
  if (data.length < MAGIC.length + DIGEST_LEN) return { ok: false, reason: "too short for an aggregate" };
  const body = data.subarray(MAGIC.length, data.length - DIGEST_LEN);
  const digest = data.subarray(data.length - DIGEST_LEN);
  const want = md5(body);
  if (want.some((b, i) => b !== digest[i])) return { ok: false, md5ok: false, reason: "MD5 does not match" };
  try {
    const r = new Reader(body);
    const pks = [], ehks = [], raw = [];
    for (const [field, wire] of r.fields()) {
      if (field === 1 && wire === 2) pks.push(utf8.decode(r.bytes()));
      else if (field === 2 && wire === 2) ehks.push(utf8.decode(r.bytes()));
      else if (field === 3 && wire === 2) raw.push(parseRecord(r.bytes()));
      else r.skip(wire);
    }
    const records = raw.map((rec, sub) => {
      if (rec.pk >= pks.length) throw new Error(`partition key index ${rec.pk} out of the table`);
      if (rec.ehk !== null && rec.ehk >= ehks.length) throw new Error(`explicit hash key index ${rec.ehk} out of the table`);
      return { sub, partitionKey: pks[rec.pk], explicitHashKey: rec.ehk === null ? null : ehks[rec.ehk], data: rec.data };
    });
    return { ok: true, md5ok: true, records };
  } catch (e) {
    return { ok: false, md5ok: true, reason: `protobuf: ${e.message}` };
  }
}

/** Base64 to bytes. */
export function fromBase64(s) {
  const bin = atob(s || "");
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The bytes as text: `{text, exact}` (exact is false when they are not UTF-8). */
export function asText(bytes) {
  try {
    return { text: utf8.decode(bytes), exact: true };
  } catch {
    return { text: new TextDecoder("utf-8").decode(bytes), exact: false };
  }
}

/** The bytes as indented JSON, or null when they are not a JSON document. */
export function asJson(bytes) {
  const { text, exact } = asText(bytes);
  if (!exact) return null;
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return null;
  }
}

/** A hex dump: offset, 16 bytes, and their printable characters. */
export function asHex(bytes, limit = 4096) {
  const lines = [];
  const n = Math.min(bytes.length, limit);
  for (let off = 0; off < n; off += 16) {
    const row = bytes.subarray(off, Math.min(off + 16, n));
    const hexes = Array.from(row, (b) => b.toString(16).padStart(2, "0")).join(" ");
    const chars = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${off.toString(16).padStart(8, "0")}  ${hexes.padEnd(47)}  ${chars}`);
  }
  if (bytes.length > n) lines.push(`… ${bytes.length - n} more bytes`);
  return lines.join("\n");
}

/** The view of bytes the browser asked for: "text", "json" or "hex". */
export function render(bytes, view) {
  if (view === "hex") return asHex(bytes);
  if (view === "json") return asJson(bytes) ?? "(not JSON)";
  const { text, exact } = asText(bytes);
  return exact ? text : `(not UTF-8) ${text}`;
}
