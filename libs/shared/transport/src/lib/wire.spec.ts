// SPDX-License-Identifier: Apache-2.0
// The wire format without a server: the codec's frames (binary attachments for large buffers)
// and the fleet slice's packed columns, exact on every value they carry (property-based), and
// every malformed frame or batch refused with an error naming what is wrong.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { FleetRequest, FleetSliceIn, FleetSliceOut } from '@kdump-twin/endpoint';
import { CodecError, decode, encode, INLINE_BYTES } from './codec';
import {
  PACKED_COMPLETION_FIELDS,
  PACKED_REQUEST_FIELDS,
  packCompletions,
  packRequests,
  packSliceIn,
  packSliceOut,
  unpackCompletions,
  unpackRequests,
  unpackSliceIn,
  unpackSliceOut,
} from './slice-pack';

const bytes = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

/** What JSON would keep of a value: keys with undefined values dropped (the co-simulation's contract before packing). */
function plain<T>(v: T): T {
  if (v instanceof Uint8Array || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(plain) as T;
  return Object.fromEntries(
    Object.entries(v as object)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => [k, plain(x)]),
  ) as T;
}

describe('codec frames', () => {
  it('small buffers stay inline base64 (readable JSON); a larger one makes a frame, decoded exactly', () => {
    const small = encode({ b: bytes(INLINE_BYTES) });
    assert.notEqual(small[0], 0);
    assert.match(new TextDecoder().decode(small), /^\{"b":\{"\$bytes":"/);
    const v = { page: bytes(4096), n: [1, 2n ** 64n - 1n, -5n, Infinity], nested: { more: [bytes(600, 3), bytes(8, 4)] } };
    const f = encode(v);
    assert.equal(f[0], 0, 'a frame starts with NUL');
    const back = decode<typeof v>(f);
    assert.deepEqual([...back.page], [...v.page]);
    assert.deepEqual(back.n, [1, 2n ** 64n - 1n, -5n, Infinity]);
    assert.ok(Object.is(decode<number[]>(encode([-0]))[0], -0), '-0 stays -0 (JSON alone prints 0)');
    assert.deepEqual([...back.nested.more[0]!], [...v.nested.more[0]!]);
    assert.deepEqual([...back.nested.more[1]!], [...v.nested.more[1]!]);
    assert.equal(Object.getPrototypeOf(back.page), Uint8Array.prototype, 'a plain Uint8Array of its own');
    assert.equal(back.page.byteOffset, 0);
  });

  it('a value of any shape survives encode/decode (property)', () => {
    const value = fc.letrec((tie) => ({
      leaf: fc.oneof(
        fc.integer(),
        fc.double({ noNaN: true }),
        fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
        fc.string(),
        fc.boolean(),
        fc.constant(null),
        fc.uint8Array({ maxLength: 1500 }),
      ),
      node: fc.oneof(
        { depthSize: 'small' },
        tie('leaf'),
        fc.array(tie('node'), { maxLength: 5 }),
        fc.dictionary(fc.string({ maxLength: 6 }), tie('node'), { maxKeys: 5, noNullPrototype: true }),
      ),
    })).node;
    fc.assert(
      fc.property(value, (v) => {
        assert.deepEqual(decode(encode(v)), v);
      }),
      { numRuns: 300 },
    );
  });

  it('a "__proto__" key stays an own property and does not change the prototype', () => {
    const back = decode<Record<string, unknown>>(new TextEncoder().encode('{"__proto__":{"$u64":"0x1"},"a":1}'));
    assert.equal(Object.getPrototypeOf(back), Object.prototype);
    assert.equal(Object.getOwnPropertyDescriptor(back, '__proto__')?.value, 1n);
  });

  it('a malformed frame is a CodecError saying what is wrong', () => {
    const good = encode({ a: bytes(1000) });
    const cases: [Uint8Array, RegExp][] = [
      [good.subarray(0, 6), /frame of 6 bytes is shorter than its header/],
      [good.subarray(0, good.length - 1), /attachment 0 of 1000 bytes runs past its end/],
      [Uint8Array.from([...good, 7]), /1 bytes after its last attachment/],
      [encode({ a: bytes(1000) }).map((x, i) => (i >= 1 && i <= 4 ? 0xff : x)), /says 4294967295 bytes of JSON/],
      [new TextEncoder().encode('{"a":{"$u64":"zz"}}'), /malformed message/],
    ];
    for (const [b, re] of cases)
      assert.throws(
        () => decode(b),
        (e: unknown) => e instanceof CodecError && re.test(e.message),
        String(re),
      );
    // The JSON names attachment 3 of a frame that has one (same length: the header stays right).
    const bad = encode({ a: bytes(1000) });
    const at = Buffer.from(bad).indexOf('{"$blob":0}');
    assert.ok(at > 0);
    bad[at + '{"$blob":'.length] = '3'.charCodeAt(0);
    assert.throws(
      () => decode(bad),
      (e: unknown) => e instanceof CodecError && /\$blob 3 names no attachment \(the frame has 1\)/.test(e.message),
    );
  });
});

const phase = fc.constantFrom('desc-fetch', 'rx-data', 'tx-data') as fc.Arbitrary<FleetRequest['phase']>;
const request: fc.Arbitrary<FleetRequest> = fc
  .record({
    sid: fc.nat(0xff_ffff),
    ssid: fc.option(fc.nat(0xf_ffff), { nil: undefined }),
    address: fc.nat(Number.MAX_SAFE_INTEGER),
    size: fc.integer({ min: 1, max: 4096 }),
    write: fc.boolean(),
    ats: fc.constantFrom(undefined, 'translated' as const, 'request' as const),
    data: fc.option(fc.uint8Array({ maxLength: 700 }), { nil: undefined }),
    device: fc.constantFrom('0000:01:00.0', '0000:02:00.0'),
    phase,
    job: fc.nat(),
    generation: fc.nat(8),
    latencyNs: fc.nat(10_000),
    time: fc.nat(Number.MAX_SAFE_INTEGER),
    ticket: fc.nat(),
    dmi: fc.constantFrom(undefined, true),
  })
  .map((r) => r as FleetRequest);
const completion = fc.record({
  ticket: fc.nat(),
  due: fc.nat(Number.MAX_SAFE_INTEGER),
  completion: fc.record({
    status: fc.constantFrom('SC' as const, 'UR' as const, 'CA' as const, 'stalled' as const),
    outcome: fc.constantFrom('translated' as const, 'bypassed' as const, 'aborted' as const, 'faulted' as const),
    pa: fc.integer({ min: -1, max: Number.MAX_SAFE_INTEGER }),
    path: fc.constantFrom('gbpa', 's1', 'ste-abort'),
    event: fc.option(fc.constantFrom('C_BAD_STE', 'F_TRANSLATION'), { nil: undefined }),
    data: fc.option(fc.uint8Array({ maxLength: 700 }), { nil: undefined }),
    steEpoch: fc.option(fc.constantFrom('primary' as const, 'kdump' as const), { nil: undefined }),
    steWriter: fc.option(fc.constantFrom('arm_smmu_write_ste', 'adopt'), { nil: undefined }),
  }),
});

describe('fleet slices in columns', () => {
  it('requests and completions round-trip exactly through pack and the codec (property)', () => {
    fc.assert(
      fc.property(fc.array(request, { maxLength: 60 }), fc.array(completion, { maxLength: 60 }), (rs, cs) => {
        const out: FleetSliceOut = { requests: rs, aer: [], jobs: [], reached: 5, next: 9 };
        const wireOut = decode<ReturnType<typeof packSliceOut>>(encode(packSliceOut(out)));
        assert.ok('packed' in wireOut);
        assert.deepEqual(plain(unpackSliceOut(wireOut).requests), plain(rs));
        const input: FleetSliceIn = { t: 3, until: 10, completions: cs, controls: [] };
        const wireIn = decode<ReturnType<typeof packSliceIn>>(encode(packSliceIn(input)));
        assert.deepEqual(plain(unpackSliceIn(wireIn).completions), plain(cs));
      }),
      { numRuns: 200 },
    );
  });

  it('has a column for every field of FleetRequest and DmaCompletion; an AT value outside the PCIe encodings goes plain', () => {
    // The build fails when either type gains a field the packer lacks (satisfies Record<keyof T, 1>); this pins the lists.
    assert.deepEqual([...PACKED_REQUEST_FIELDS].sort(), [
      'address',
      'ats',
      'data',
      'device',
      'dmi',
      'generation',
      'job',
      'latencyNs',
      'phase',
      'sid',
      'size',
      'ssid',
      'ticket',
      'time',
      'write',
    ]);
    assert.deepEqual([...PACKED_COMPLETION_FIELDS].sort(), ['data', 'event', 'outcome', 'pa', 'path', 'status', 'steEpoch', 'steWriter']);
    const r = {
      sid: 1,
      address: 0,
      size: 4,
      write: false,
      ats: 'bogus',
      device: 'd',
      phase: 'desc-fetch',
      job: 1,
      generation: 0,
      latencyNs: 5,
      time: 0,
      ticket: 1,
    } as unknown as FleetRequest;
    assert.equal(packRequests([r]), undefined);
    const w = packSliceOut({ requests: [r], aer: [], jobs: [], reached: 0, next: undefined });
    assert.ok(!('packed' in w), 'the slice goes as plain JSON');
    assert.deepEqual(unpackSliceOut(decode(encode(w))).requests, [r]);
  });

  it('a malformed packed batch is refused naming the field', () => {
    const good = packRequests([
      { sid: 1, address: 0, size: 4, write: true, data: bytes(4), device: 'd', phase: 'rx-data', job: 1, generation: 0, latencyNs: 0, time: 0, ticket: 1 },
    ])!;
    const cases: [unknown, RegExp][] = [
      [{ ...good, n: -1 }, /packed\.n: an integer in \[0, 2\^20\]/],
      [{ ...good, n: 2 }, /packed\.num: 2 x 13 little-endian float64 \(208 bytes\)/],
      [{ ...good, strings: [1] }, /packed\.strings: an array of strings/],
      [{ ...good, data: bytes(3) }, /packed\.data: the dataLen column adds up to 4 bytes, data has 3/],
      [{ ...good, strings: [] }, /packed\.num: device\[0\] = 0 is not an index into strings/],
      [null, /packed: a packed batch/],
    ];
    for (const [p, re] of cases)
      assert.throws(
        () => unpackRequests(p as never),
        (e: unknown) => e instanceof RangeError && re.test(e.message),
        String(re),
      );
    const c = packCompletions([{ ticket: 1, due: 2, completion: { status: 'SC', outcome: 'translated', pa: 0, path: 's1' } }]);
    const num = new Uint8Array(c.num);
    new DataView(num.buffer).setFloat64(8 * 1 * 0 + 8 * 0, Number.NaN, true);
    assert.throws(
      () => unpackCompletions({ ...c, num }),
      (e: unknown) => e instanceof RangeError && /packed\.num: ticket\[0\] is not a finite number/.test(e.message),
    );
    assert.throws(() => unpackSliceIn(7 as never), /input: a slice input object/);
  });
});
