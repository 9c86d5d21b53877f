// SPDX-License-Identifier: Apache-2.0
// The fleet slice's DMA in columns (docs/services.md, "Fleet slices on the wire"): a slice's
// requests (FleetSliceOut.requests) and the completions handed back (FleetSliceIn.completions)
// are the bulk of the co-simulation's traffic, hundreds per message, and as JSON objects each
// repeats every key and prints every number. Packed, the numeric fields are one block of
// little-endian float64 columns (every value is a JS number, so float64 is exact), strings are
// indices into a table of the distinct values, and every payload byte of the batch is one
// buffer; the codec carries both blocks as binary attachments. Exact: unpack(pack(x)) has the
// same fields and values as x (fields whose value is undefined are left out, as JSON leaves them).

import type { DmaCompletion, FleetRequest, FleetSliceIn, FleetSliceOut } from '@kdump-twin/endpoint';

// Every field FleetRequest and DmaCompletion declare has its column: `satisfies` fails the build
// when either type gains a field these lists lack, so packing never drops one. The objects packed
// are built field by field from those types (FleetSim's DMA port, applyDma), so no undeclared
// key can ride on them; checking each object's keys at run time cost as much as packing it.
const REQUEST_FIELDS = {
  sid: 1,
  ssid: 1,
  address: 1,
  size: 1,
  write: 1,
  ats: 1,
  data: 1,
  device: 1,
  phase: 1,
  job: 1,
  generation: 1,
  latencyNs: 1,
  time: 1,
  ticket: 1,
  dmi: 1,
} as const satisfies Record<keyof FleetRequest, 1>;
const COMPLETION_FIELDS = { status: 1, outcome: 1, pa: 1, path: 1, event: 1, data: 1, steEpoch: 1, steWriter: 1 } as const satisfies Record<
  keyof DmaCompletion,
  1
>;
/** The field names, for tests and docs. */
export const PACKED_REQUEST_FIELDS = Object.keys(REQUEST_FIELDS) as (keyof FleetRequest)[];
export const PACKED_COMPLETION_FIELDS = Object.keys(COMPLETION_FIELDS) as (keyof DmaCompletion)[];
const ATS = [undefined, 'translated', 'request'] as const;
/** Request flags: bit 0 write; bits 1-2 the AT field (index in ATS); bit 3 has ssid; bit 4 has data; bit 5 has ats; bit 6 answered under a direct-memory grant. */
const F_WRITE = 1;
const F_SSID = 8;
const F_DATA = 16;
const F_ATS = 32;
const F_DMI = 64;

/** Column order of each block; string columns hold indices into `strings` (-1: absent); dataLen -1: no data. */
export const REQUEST_COLUMNS = [
  'sid',
  'ssid',
  'address',
  'size',
  'flags',
  'device',
  'phase',
  'job',
  'generation',
  'latencyNs',
  'time',
  'ticket',
  'dataLen',
] as const;
export const COMPLETION_COLUMNS = ['ticket', 'due', 'status', 'outcome', 'pa', 'path', 'event', 'steEpoch', 'steWriter', 'dataLen'] as const;
const REQUEST_STRING_COLUMNS = ['device', 'phase'] as const;
const COMPLETION_STRING_COLUMNS = ['status', 'outcome', 'path', 'event', 'steEpoch', 'steWriter'] as const;

/** One packed batch: `n` entries, the float64 columns (column-major), the string table, the payload bytes. */
export interface PackedBatch {
  readonly n: number;
  readonly num: Uint8Array;
  readonly strings: readonly string[];
  readonly data: Uint8Array;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Distinct strings, in first-seen order; -1 is "absent". */
class Strings {
  readonly list: string[] = [];
  private readonly index = new Map<string, number>();
  of(s: string | undefined): number {
    if (s === undefined) return -1;
    let i = this.index.get(s);
    if (i === undefined) this.index.set(s, (i = this.list.push(s) - 1));
    return i;
  }
}

/** Float64 columns as little-endian bytes, in place: the host's byte order reversed per value on a big-endian host. */
function littleEndian(b: Uint8Array): Uint8Array {
  if (!LITTLE_ENDIAN) for (let i = 0; i < b.length; i += 8) b.subarray(i, i + 8).reverse();
  return b;
}

/** The float64 columns of a block from the wire (a copy at offset 0 of its own buffer: `num` may be a view at any alignment). */
function columnsOf(num: Uint8Array): Float64Array {
  const b = littleEndian(new Uint8Array(num));
  return new Float64Array(b.buffer, 0, b.length / 8);
}

function joinBytes(parts: readonly (Uint8Array | undefined)[]): Uint8Array {
  let total = 0;
  for (const p of parts) total += p?.length ?? 0;
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    if (!p) continue;
    bytes.set(p, at);
    at += p.length;
  }
  return bytes;
}

/** Checks a packed batch from the wire (RangeError naming the field) and returns its columns. */
function check(p: unknown, what: string, columns: readonly string[], stringCols: readonly string[]): Float64Array {
  const o = p as Record<string, unknown>;
  if (o === null || typeof o !== 'object') throw new RangeError(`${what}: a packed batch {n, num, strings, data}`);
  const n = o['n'];
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > 1 << 20)
    throw new RangeError(`${what}.n: an integer in [0, 2^20] (got ${JSON.stringify(n)})`);
  const strings = o['strings'];
  if (!Array.isArray(strings) || !strings.every((x) => typeof x === 'string')) throw new RangeError(`${what}.strings: an array of strings`);
  if (!(o['num'] instanceof Uint8Array) || o['num'].length !== n * columns.length * 8)
    throw new RangeError(`${what}.num: ${n} x ${columns.length} little-endian float64 (${n * columns.length * 8} bytes)`);
  if (!(o['data'] instanceof Uint8Array)) throw new RangeError(`${what}.data: bytes`);
  const f = columnsOf(o['num']);
  for (let j = 0; j < f.length; j++) {
    if (!Number.isFinite(f[j]!)) throw new RangeError(`${what}.num: ${columns[Math.floor(j / n)]}[${j % n}] is not a finite number`);
  }
  for (const name of stringCols) {
    const c = columns.indexOf(name);
    for (let i = 0; i < n; i++) {
      const v = f[c * n + i]!;
      if (!Number.isInteger(v) || v < -1 || v >= strings.length) throw new RangeError(`${what}.num: ${name}[${i}] = ${v} is not an index into strings (or -1)`);
    }
  }
  const len = columns.indexOf('dataLen');
  let total = 0;
  for (let i = 0; i < n; i++) {
    const l = f[len * n + i]!;
    if (!Number.isInteger(l) || l < -1) throw new RangeError(`${what}.num: dataLen[${i}] = ${l}: a length >= 0 (or -1: no data)`);
    total += Math.max(0, l);
  }
  if (total !== o['data'].length) throw new RangeError(`${what}.data: the dataLen column adds up to ${total} bytes, data has ${o['data'].length}`);
  return f;
}

/** The requests packed, or undefined if one has an AT value outside the PCIe encodings (the slice then goes plain). */
export function packRequests(rs: readonly FleetRequest[]): PackedBatch | undefined {
  const s = new Strings();
  const n = rs.length;
  const col = new Float64Array(n * REQUEST_COLUMNS.length);
  for (let i = 0; i < n; i++) {
    const r = rs[i]!;
    const ats = r.ats === undefined ? 0 : r.ats === 'translated' ? 1 : r.ats === 'request' ? 2 : -1;
    if (ats < 0) return undefined;
    col[i] = r.sid;
    col[n + i] = r.ssid ?? 0;
    col[2 * n + i] = r.address;
    col[3 * n + i] = r.size;
    col[4 * n + i] =
      (r.write ? F_WRITE : 0) |
      (ats << 1) |
      (r.ssid !== undefined ? F_SSID : 0) |
      (r.data !== undefined ? F_DATA : 0) |
      (r.ats !== undefined ? F_ATS : 0) |
      (r.dmi ? F_DMI : 0);
    col[5 * n + i] = s.of(r.device);
    col[6 * n + i] = s.of(r.phase);
    col[7 * n + i] = r.job;
    col[8 * n + i] = r.generation;
    col[9 * n + i] = r.latencyNs;
    col[10 * n + i] = r.time;
    col[11 * n + i] = r.ticket;
    col[12 * n + i] = r.data ? r.data.length : -1;
  }
  return { n, num: littleEndian(new Uint8Array(col.buffer)), strings: s.list, data: joinBytes(rs.map((r) => r.data)) };
}

// Unpacked payloads are views into the batch's data block, which is the decoder's own copy (codec.ts).

export function unpackRequests(p: PackedBatch): FleetRequest[] {
  const col = check(p, 'packed', REQUEST_COLUMNS, REQUEST_STRING_COLUMNS);
  const n = p.n;
  const out: FleetRequest[] = new Array(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const flags = col[4 * n + i]!;
    const r: { -readonly [K in keyof FleetRequest]: FleetRequest[K] } = {
      sid: col[i]!,
      address: col[2 * n + i]!,
      size: col[3 * n + i]!,
      write: (flags & F_WRITE) !== 0,
      device: p.strings[col[5 * n + i]!]!,
      phase: p.strings[col[6 * n + i]!]! as FleetRequest['phase'],
      job: col[7 * n + i]!,
      generation: col[8 * n + i]!,
      latencyNs: col[9 * n + i]!,
      time: col[10 * n + i]!,
      ticket: col[11 * n + i]!,
    };
    if (flags & F_SSID) r.ssid = col[n + i]!;
    if (flags & F_ATS) r.ats = ATS[(flags >> 1) & 3];
    if (flags & F_DMI) r.dmi = true;
    const len = col[12 * n + i]!;
    if (len >= 0) {
      r.data = p.data.subarray(at, at + len);
      at += len;
    }
    out[i] = r;
  }
  return out;
}

type Completion = FleetSliceIn['completions'][number];

export function packCompletions(cs: readonly Completion[]): PackedBatch {
  const s = new Strings();
  const n = cs.length;
  const col = new Float64Array(n * COMPLETION_COLUMNS.length);
  for (let i = 0; i < n; i++) {
    const x = cs[i]!;
    const d = x.completion;
    col[i] = x.ticket;
    col[n + i] = x.due;
    col[2 * n + i] = s.of(d.status);
    col[3 * n + i] = s.of(d.outcome);
    col[4 * n + i] = d.pa;
    col[5 * n + i] = s.of(d.path);
    col[6 * n + i] = s.of(d.event);
    col[7 * n + i] = s.of(d.steEpoch);
    col[8 * n + i] = s.of(d.steWriter);
    col[9 * n + i] = d.data ? d.data.length : -1;
  }
  return { n, num: littleEndian(new Uint8Array(col.buffer)), strings: s.list, data: joinBytes(cs.map((x) => x.completion.data)) };
}

export function unpackCompletions(p: PackedBatch): Completion[] {
  const col = check(p, 'packed', COMPLETION_COLUMNS, COMPLETION_STRING_COLUMNS);
  const n = p.n;
  const str = (k: number, i: number): string | undefined => {
    const v = col[k * n + i]!;
    return v < 0 ? undefined : p.strings[v];
  };
  const out: Completion[] = new Array(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const c: { -readonly [K in keyof DmaCompletion]: DmaCompletion[K] } = {
      status: str(2, i) as DmaCompletion['status'],
      outcome: str(3, i) as DmaCompletion['outcome'],
      pa: col[4 * n + i]!,
      path: str(5, i)!,
    };
    const event = str(6, i);
    if (event !== undefined) c.event = event;
    const len = col[9 * n + i]!;
    if (len >= 0) {
      c.data = p.data.subarray(at, at + len);
      at += len;
    }
    const epoch = str(7, i);
    if (epoch !== undefined) c.steEpoch = epoch as DmaCompletion['steEpoch'];
    const writer = str(8, i);
    if (writer !== undefined) c.steWriter = writer;
    out[i] = { ticket: col[i]!, due: col[n + i]!, completion: c };
  }
  return out;
}

/** A slice input as it goes on the wire: completions packed (RemoteFleet), or plain (a script). */
export type WireSliceIn = Omit<FleetSliceIn, 'completions'> & ({ readonly completions: FleetSliceIn['completions'] } | { readonly packed: PackedBatch });
/** A slice's answer on the wire: requests packed when asked and representable, else plain. */
export type WireSliceOut = Omit<FleetSliceOut, 'requests'> & ({ readonly requests: readonly FleetRequest[] } | { readonly packed: PackedBatch });

export function packSliceIn(x: FleetSliceIn): WireSliceIn {
  const { completions, ...rest } = x;
  return { ...rest, packed: packCompletions(completions) };
}

export function unpackSliceIn(w: WireSliceIn): FleetSliceIn {
  if (w === null || typeof w !== 'object') throw new RangeError('input: a slice input object');
  if (!('packed' in w)) return w;
  const { packed, ...rest } = w;
  return { ...rest, completions: unpackCompletions(packed) };
}

export function packSliceOut(x: FleetSliceOut): WireSliceOut {
  const packed = packRequests(x.requests);
  if (!packed) return x;
  const { requests: _, ...rest } = x;
  return { ...rest, packed };
}

export function unpackSliceOut(w: WireSliceOut): FleetSliceOut {
  if (!('packed' in w)) return w;
  const { packed, ...rest } = w;
  return { ...rest, requests: unpackRequests(packed) };
}
