// SPDX-License-Identifier: Apache-2.0
// The co-simulation's wire format on NATS: JSON, with the two value kinds JSON lacks tagged
// (64-bit register values as {"$u64":"0x..."}, byte buffers as {"$bytes":"<base64>"}), so
// every message is readable with `nats sub` and decodes to exactly what was sent.

const TEXT = new TextEncoder();
const UTF8 = new TextDecoder();

function replacer(this: unknown, _key: string, v: unknown): unknown {
  if (typeof v === 'bigint') return { $u64: `0x${v.toString(16)}` };
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  if (typeof v === 'number' && !Number.isFinite(v)) return { $num: String(v) };
  return v;
}

function reviver(_key: string, v: unknown): unknown {
  if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1) {
      if (typeof o['$u64'] === 'string') return BigInt(o['$u64']);
      if (typeof o['$bytes'] === 'string') return new Uint8Array(Buffer.from(o['$bytes'], 'base64'));
      if (typeof o['$num'] === 'string') return Number(o['$num']);
    }
  }
  return v;
}

/** A value as the bytes of a NATS message. */
export function encode(v: unknown): Uint8Array {
  return TEXT.encode(JSON.stringify(v, replacer) ?? 'null');
}

/** Raised for a message that is not a JSON document of this format. */
export class CodecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CodecError';
  }
}

/** The value of a NATS message (CodecError if it is not one this codec wrote). */
export function decode<T = unknown>(b: Uint8Array): T {
  try {
    return JSON.parse(UTF8.decode(b), reviver) as T;
  } catch (e) {
    throw new CodecError(`malformed message: ${(e as Error).message}`);
  }
}
