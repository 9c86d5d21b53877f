// SPDX-License-Identifier: Apache-2.0
// The co-simulation's wire format on NATS: JSON, with the value kinds JSON lacks tagged (64-bit
// register values as {"$u64":"0x..."}, non-finite numbers and -0 as {"$num":"Infinity"}, byte buffers
// as {"$bytes":"<base64>"}), so a message is readable with `nats sub` and decodes to exactly what
// was sent. Buffers larger than INLINE_BYTES (memory pages, a fleet slice's packed columns) travel
// as binary attachments instead: the message is then a frame,
//   0x00 | u32 JSON length | JSON | u32 count | count x u32 length | the buffers, back to back
// (little-endian), and the JSON refers to attachment i as {"$blob":i}. A JSON text never starts
// with a NUL byte, so the first byte tells the two apart.

const TEXT = new TextEncoder();
const UTF8 = new TextDecoder();

/** Buffers up to this size stay inline as base64 (readable); larger ones are attachments. */
export const INLINE_BYTES = 512;
const FRAME = 0x00;

// Both directions walk the value once outside JSON.stringify/JSON.parse instead of passing a
// replacer or reviver: V8 calls those for every key, which made them most of a DMA slice's cost
// (tools/bench nats-dma). The walks share structure: an object without tagged values inside is
// sent as it is, and decoding rewrites only the tags it finds.

/** `v` with every bigint, Uint8Array and non-finite number replaced by its tag (copies only what changes). */
function tagged(v: unknown, blobs: Uint8Array[]): unknown {
  switch (typeof v) {
    case 'bigint':
      // Register values are unsigned; a negative one keeps its sign ("-0x10"), which BigInt() alone would not parse.
      return { $u64: v < 0n ? `-0x${(-v).toString(16)}` : `0x${v.toString(16)}` };
    case 'number':
      // JSON has no -0 (it prints 0): tagged like the non-finite numbers, so it decodes exactly.
      return Number.isFinite(v) ? (v === 0 && 1 / v < 0 ? { $num: '-0' } : v) : { $num: String(v) };
    case 'object': {
      if (v === null) return v;
      if (v instanceof Uint8Array)
        return v.length > INLINE_BYTES ? { $blob: blobs.push(v) - 1 } : { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
      if (Array.isArray(v)) {
        let out: unknown[] | undefined;
        for (let i = 0; i < v.length; i++) {
          const x = v[i] as unknown;
          const y = tagged(x, blobs);
          if (y !== x) (out ??= v.slice())[i] = y;
        }
        return out ?? v;
      }
      // A value with toJSON (a Date) is JSON.stringify's to convert, as it would be anyway.
      if (typeof (v as { toJSON?: unknown }).toJSON === 'function') return v;
      let out: Record<string, unknown> | undefined;
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) {
        const x = o[k];
        const y = tagged(x, blobs);
        if (y !== x) {
          out ??= { ...o };
          Object.defineProperty(out, k, { value: y, enumerable: true, writable: true, configurable: true });
        }
      }
      return out ?? v;
    }
    default:
      return v;
  }
}

/** Replaces, in the freshly parsed `v`, every tag by its value. */
function untagged(v: unknown, blobs: readonly Uint8Array[]): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const x = v[i] as unknown;
      if (x !== null && typeof x === 'object') v[i] = untagged(x, blobs);
    }
    return v;
  }
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    const tag = keys[0]!;
    const s = o[tag];
    if (typeof s === 'string') {
      if (tag === '$u64') return s.startsWith('-') ? -BigInt(s.slice(1)) : BigInt(s);
      if (tag === '$bytes') return new Uint8Array(Buffer.from(s, 'base64'));
      if (tag === '$num') return Number(s);
    } else if (tag === '$blob' && typeof s === 'number') {
      const b = blobs[s];
      if (!b) throw new CodecError(`malformed message: $blob ${s} names no attachment (the frame has ${blobs.length})`);
      return b;
    }
  }
  for (const k of keys) {
    const x = o[k];
    if (x === null || typeof x !== 'object') continue;
    const y = untagged(x, blobs);
    // JSON.parse makes "__proto__" an own property; keep it one.
    if (y !== x) Object.defineProperty(o, k, { value: y, enumerable: true, writable: true, configurable: true });
  }
  return o;
}

/** A value as the bytes of a NATS message. */
export function encode(v: unknown): Uint8Array {
  const blobs: Uint8Array[] = [];
  const json = TEXT.encode(JSON.stringify(tagged(v, blobs)) ?? 'null');
  if (blobs.length === 0) return json;
  let size = 1 + 4 + json.length + 4 + 4 * blobs.length;
  for (const b of blobs) size += b.length;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  out[0] = FRAME;
  dv.setUint32(1, json.length, true);
  out.set(json, 5);
  let at = 5 + json.length;
  dv.setUint32(at, blobs.length, true);
  at += 4;
  for (const b of blobs) {
    dv.setUint32(at, b.length, true);
    at += 4;
  }
  for (const b of blobs) {
    out.set(b, at);
    at += b.length;
  }
  return out;
}

/** Raised for a message that is not a JSON document of this format. */
export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

/** The JSON text and attachments of a message (a frame or plain JSON). */
function split(b: Uint8Array): { json: Uint8Array; blobs: Uint8Array[] } {
  if (b.length === 0 || b[0] !== FRAME) return { json: b, blobs: [] };
  const bad = (why: string) => new CodecError(`malformed message: frame ${why}`);
  if (b.length < 9) throw bad(`of ${b.length} bytes is shorter than its header`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const jlen = dv.getUint32(1, true);
  if (5 + jlen + 4 > b.length) throw bad(`says ${jlen} bytes of JSON, has ${b.length - 9}`);
  const json = b.subarray(5, 5 + jlen);
  let at = 5 + jlen;
  const count = dv.getUint32(at, true);
  at += 4;
  if (at + 4 * count > b.length) throw bad(`says ${count} attachments, too many for its ${b.length} bytes`);
  const lens: number[] = [];
  for (let i = 0; i < count; i++, at += 4) lens.push(dv.getUint32(at, true));
  const blobs: Uint8Array[] = [];
  for (const n of lens) {
    if (at + n > b.length) throw bad(`attachment ${blobs.length} of ${n} bytes runs past its end`);
    // A copy (a plain Uint8Array of its own, also when the message is a Buffer, whose slice() is a view): the message buffer belongs to the NATS client.
    blobs.push(Uint8Array.prototype.slice.call(b, at, at + n));
    at += n;
  }
  if (at !== b.length) throw bad(`has ${b.length - at} bytes after its last attachment`);
  return { json, blobs };
}

/** The value of a NATS message (CodecError if it is not one this codec wrote). */
export function decode<T = unknown>(b: Uint8Array): T {
  const { json, blobs } = split(b);
  let v: unknown;
  try {
    v = JSON.parse(UTF8.decode(json));
  } catch (e) {
    throw new CodecError(`malformed message: ${(e as Error).message}`);
  }
  try {
    return untagged(v, blobs) as T;
  } catch (e) {
    if (e instanceof CodecError) throw e;
    // A $u64 tag that is not a number (BigInt's SyntaxError).
    throw new CodecError(`malformed message: ${(e as Error).message}`);
  }
}
