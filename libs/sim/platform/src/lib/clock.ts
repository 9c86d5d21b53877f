// SPDX-License-Identifier: Apache-2.0
// Virtual time in integer nanoseconds, shared by every model, with timers ordered by
// (time, scheduling sequence) in a binary heap. No wall clock anywhere (DESIGN.md, "Time and
// determinism"). Every time and delay is an integer: a fraction is refused with a RangeError
// naming the call, so now() and the timers can never disagree about which nanosecond it is.

interface Timer {
  readonly id: number;
  readonly at: number;
  readonly seq: number;
  readonly label: string;
  readonly fn: () => void;
}

export class VirtualClock {
  private t = 0;
  private seq = 0;
  private nextId = 1;
  private heap: Timer[] = [];
  private readonly cancelled = new Set<number>();

  now(): number {
    return this.t;
  }

  /** Runs `fn` at absolute virtual time `atNs` (an integer; clamped to now). Returns a timer id. */
  schedule(atNs: number, label: string, fn: () => void): number {
    if (!Number.isSafeInteger(atNs)) throw new RangeError(`schedule(${label}): time ${atNs} is not an integer number of nanoseconds`);
    const id = this.nextId++;
    this.push({ id, at: Math.max(atNs, this.t), seq: this.seq++, label, fn });
    return id;
  }

  after(delayNs: number, label: string, fn: () => void): number {
    if (!Number.isSafeInteger(delayNs)) throw new RangeError(`after(${label}): delay ${delayNs} is not an integer number of nanoseconds`);
    return this.schedule(this.t + delayNs, label, fn);
  }

  cancel(id: number): boolean {
    if (!this.heap.some((x) => x.id === id) || this.cancelled.has(id)) return false;
    this.cancelled.add(id);
    return true;
  }

  /** Timers still to run (cancelled ones excluded). */
  pending(): number {
    return this.heap.length - this.cancelled.size;
  }

  nextDeadline(): number | undefined {
    this.dropCancelled();
    return this.heap[0]?.at;
  }

  /** Pending timers in the order they will run; `seq` is the scheduling sequence (the tie-break). */
  pendingTimers(): { id: number; at: number; seq: number; label: string }[] {
    return this.heap
      .filter((x) => !this.cancelled.has(x.id))
      .sort((a, b) => a.at - b.at || a.seq - b.seq)
      .map(({ id, at, seq, label }) => ({ id, at, seq, label }));
  }

  /** When a pending timer runs and its tie-break sequence (snapshots keep timers in this order). */
  timer(id: number): { at: number; seq: number; label: string } | undefined {
    if (this.cancelled.has(id)) return undefined;
    const x = this.heap.find((h) => h.id === id);
    return x ? { at: x.at, seq: x.seq, label: x.label } : undefined;
  }

  /** Runs every timer due at or before `t` (an integer) in (time, sequence) order, then sets now = t. */
  advanceTo(t: number): void {
    if (!Number.isSafeInteger(t)) throw new RangeError(`advanceTo(${t}): virtual time is an integer number of nanoseconds`);
    if (t < this.t) throw new RangeError(`advanceTo(${t}): virtual time cannot go back from ${this.t}`);
    for (;;) {
      this.dropCancelled();
      const top = this.heap[0];
      if (!top || top.at > t) break;
      this.pop();
      this.t = top.at;
      top.fn();
    }
    this.t = t;
  }

  advance(ns: number): void {
    if (!Number.isSafeInteger(ns) || ns < 0) throw new RangeError(`advance(${ns}): a non-negative integer number of nanoseconds`);
    this.advanceTo(this.t + ns);
  }

  /** Runs the earliest timer, moving time to it. False when none is pending. */
  runNext(): boolean {
    this.dropCancelled();
    const top = this.heap[0];
    if (!top) return false;
    this.pop();
    this.t = top.at;
    top.fn();
    return true;
  }

  /** Runs timers until none is left; a bound guards against timers that re-arm forever. */
  runUntilIdle(maxTimers = 1_000_000): number {
    let n = 0;
    while (this.runNext()) {
      if (++n >= maxTimers) throw new RangeError(`runUntilIdle: still busy after ${maxTimers} timers`);
    }
    return n;
  }

  private dropCancelled(): void {
    while (this.heap.length && this.cancelled.has(this.heap[0]!.id)) {
      this.cancelled.delete(this.heap[0]!.id);
      this.pop();
    }
  }

  private less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(x: Timer): void {
    const h = this.heap;
    h.push(x);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
