// SPDX-License-Identifier: Apache-2.0
// A map from non-negative integer keys (below 2^53) to values, by open addressing with linear
// probing and backward-shift deletion: a TLB context's entries by page key. A JS Map that gains
// and loses a key on every walk (insert one entry, evict another) reallocates its table every
// few operations; this one allocates only when it grows. Lookups and iteration order are not
// observable outside the TLB (replacement order lives in the TLB's own list).

const EMPTY = -1;

export class KeyTable<V> {
  private keys = new Float64Array(8).fill(EMPTY);
  private vals: (V | undefined)[] = new Array<V | undefined>(8).fill(undefined);
  private mask = 7;
  private bits = 3;
  size = 0;

  private slot(key: number): number {
    // Both 32-bit halves of the key, mixed (Fibonacci hashing); exact for keys below 2^53.
    return Math.imul((key | 0) ^ ((key / 4294967296) | 0), -1640531535) >>> (32 - this.bits);
  }

  get(key: number): V | undefined {
    const keys = this.keys;
    const mask = this.mask;
    let i = this.slot(key);
    for (;;) {
      const k = keys[i]!;
      if (k === key) return this.vals[i];
      if (k === EMPTY) return undefined;
      i = (i + 1) & mask;
    }
  }

  set(key: number, v: V): void {
    if ((this.size + 1) * 2 > this.keys.length) this.grow();
    const keys = this.keys;
    for (let i = this.slot(key); ; i = (i + 1) & this.mask) {
      const k = keys[i]!;
      if (k === key) {
        this.vals[i] = v;
        return;
      }
      if (k === EMPTY) {
        keys[i] = key;
        this.vals[i] = v;
        this.size++;
        return;
      }
    }
  }

  delete(key: number): boolean {
    const keys = this.keys;
    const mask = this.mask;
    let i = this.slot(key);
    for (; ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === key) break;
      if (k === EMPTY) return false;
    }
    // Backward shift: move later members of the probe run into the hole when their home slot
    // does not lie strictly between the hole and them (cyclically), so no tombstones remain.
    let hole = i;
    for (let j = (i + 1) & mask; keys[j] !== EMPTY; j = (j + 1) & mask) {
      const home = this.slot(keys[j]!);
      if (((j - home) & mask) >= ((j - hole) & mask)) {
        keys[hole] = keys[j]!;
        this.vals[hole] = this.vals[j];
        hole = j;
      }
    }
    keys[hole] = EMPTY;
    this.vals[hole] = undefined;
    this.size--;
    return true;
  }

  /** A copy of the entries (safe to delete from the table while walking it). */
  entries(): [number, V][] {
    const out: [number, V][] = [];
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== EMPTY) out.push([this.keys[i]!, this.vals[i]!]);
    return out;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    const n = oldKeys.length * 2;
    this.keys = new Float64Array(n).fill(EMPTY);
    this.vals = new Array<V | undefined>(n).fill(undefined);
    this.mask = n - 1;
    this.bits++;
    this.size = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== EMPTY) this.set(oldKeys[i]!, oldVals[i]!);
  }
}
