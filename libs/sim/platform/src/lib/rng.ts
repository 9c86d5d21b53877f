// SPDX-License-Identifier: Apache-2.0
// The seeded RNG every model draws from: xoshiro128** (Blackman and Vigna), seeded through
// splitmix32. A string seed is hashed with 32-bit FNV-1a. fork(label) derives an independent
// stream from the original seed and the label, so adding a consumer never shifts another.

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) >>> 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

export class SeededRng {
  private s: Uint32Array;
  private readonly seed: number;

  constructor(seed: number | string) {
    if (typeof seed === 'number' && !Number.isFinite(seed)) throw new RangeError('seed: a finite number or a string');
    this.seed = typeof seed === 'string' ? fnv1a(seed) : seed >>> 0;
    const st = { s: this.seed };
    this.s = Uint32Array.from([splitmix32(st), splitmix32(st), splitmix32(st), splitmix32(st)]);
    if (this.s.every((x) => x === 0)) this.s[0] = 1;
  }

  /** Next 32-bit unsigned value (xoshiro128**). */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1]! << 9) >>> 0;
    s[2] ^= s[0]!;
    s[3] ^= s[1]!;
    s[1] ^= s[2]!;
    s[0] ^= s[3]!;
    s[2] ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 bits. */
  next(): number {
    return ((this.nextU32() >>> 5) * 67108864 + (this.nextU32() >>> 6)) / 9007199254740992;
  }

  /** Uniform integer in [lo, hiInclusive]. */
  int(lo: number, hiInclusive: number): number {
    if (!(hiInclusive >= lo)) throw new RangeError(`int(${lo}, ${hiInclusive}): empty range`);
    return lo + Math.floor(this.next() * (hiInclusive - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick: no items');
    return items[this.int(0, items.length - 1)]!;
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      const v = this.nextU32();
      for (let j = 0; j < 4 && i + j < n; j++) out[i + j] = (v >>> (8 * j)) & 0xff;
    }
    return out;
  }

  fork(label: string): SeededRng {
    return new SeededRng(fnv1a(`${this.seed}/${label}`));
  }

  getState(): number[] {
    return [this.seed, ...this.s];
  }

  static fromState(state: readonly number[]): SeededRng {
    if (!Array.isArray(state) || state.length !== 5 || !state.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) {
      throw new RangeError('rng state: five 32-bit unsigned integers [seed, s0, s1, s2, s3]');
    }
    const r = new SeededRng(state[0]!);
    r.s = Uint32Array.from(state.slice(1));
    return r;
  }
}
