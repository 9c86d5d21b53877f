// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRng } from './rng';

/**
 * Independent reference: xoshiro128** over BigInt arithmetic, straight from the published
 * algorithm (Blackman and Vigna), seeded from the same splitmix32 state words. It shares no code
 * with the class under test.
 */
function reference(state: readonly number[], n: number): number[] {
  const M = 0xffffffffn;
  const s = state.map((x) => BigInt(x));
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & M;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const result = (rotl((s[1]! * 5n) & M, 7n) * 9n) & M;
    const t = (s[1]! << 9n) & M;
    s[2] = s[2]! ^ s[0]!;
    s[3] = s[3]! ^ s[1]!;
    s[1] = s[1]! ^ s[2]!;
    s[0] = s[0]! ^ s[3]!;
    s[2] = s[2]! ^ t;
    s[3] = rotl(s[3]!, 11n);
    out.push(Number(result));
  }
  return out;
}

/** splitmix32 reference with BigInt. */
function splitmixStates(seed: number): number[] {
  const M = 0xffffffffn;
  let x = BigInt(seed >>> 0);
  const out: number[] = [];
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9n) & M;
    let z = x;
    z = ((z ^ (z >> 16n)) * 0x85ebca6bn) & M;
    z = ((z ^ (z >> 13n)) * 0xc2b2ae35n) & M;
    out.push(Number(z ^ (z >> 16n)));
  }
  return out;
}

describe('SeededRng (xoshiro128**)', () => {
  it('matches an independent BigInt reference for the first 1000 outputs', () => {
    for (const seed of [0, 1, 42, 0xdeadbeef]) {
      const r = new SeededRng(seed);
      const got = Array.from({ length: 1000 }, () => r.nextU32());
      assert.deepEqual(got, reference(splitmixStates(seed), 1000), `seed ${seed}`);
    }
  });

  it('state round-trips: a restored generator continues the same sequence', () => {
    const r = new SeededRng('scenario/baseline');
    for (let i = 0; i < 17; i++) r.nextU32();
    const copy = SeededRng.fromState(JSON.parse(JSON.stringify(r.getState())) as number[]);
    assert.deepEqual(
      Array.from({ length: 50 }, () => copy.nextU32()),
      Array.from({ length: 50 }, () => r.nextU32()),
    );
    assert.throws(() => SeededRng.fromState([1, 2]), /five 32-bit/);
  });

  it('fork(label) depends on the seed and label only, not on how much was drawn', () => {
    const a = new SeededRng(9);
    const b = new SeededRng(9);
    for (let i = 0; i < 100; i++) b.nextU32();
    assert.deepEqual(a.fork('fleet').getState(), b.fork('fleet').getState());
    assert.notDeepEqual(a.fork('fleet').getState(), a.fork('kernel').getState());
  });

  it('int/chance/pick stay in range and cover it', () => {
    const r = new SeededRng(3);
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const v = r.int(-2, 5);
      assert.ok(v >= -2 && v <= 5 && Number.isInteger(v));
      seen.add(v);
    }
    assert.equal(seen.size, 8);
    assert.throws(() => r.int(3, 2), RangeError);
    assert.throws(() => r.pick([]), RangeError);
    const f = r.next();
    assert.ok(f >= 0 && f < 1);
    assert.equal(r.bytes(7).length, 7);
  });
});
