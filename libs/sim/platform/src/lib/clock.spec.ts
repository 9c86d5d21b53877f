// SPDX-License-Identifier: Apache-2.0
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VirtualClock } from './clock';

describe('VirtualClock', () => {
  it('runs timers in (time, scheduling order) and sets now to each timer before running it', () => {
    const c = new VirtualClock();
    const seen: string[] = [];
    c.schedule(30, 'c', () => seen.push(`c@${c.now()}`));
    c.schedule(10, 'a', () => seen.push(`a@${c.now()}`));
    c.schedule(10, 'b', () => seen.push(`b@${c.now()}`));
    c.advanceTo(25);
    assert.deepEqual(seen, ['a@10', 'b@10']);
    assert.equal(c.now(), 25);
    c.advance(5);
    assert.deepEqual(seen, ['a@10', 'b@10', 'c@30']);
  });

  it('timers scheduled by timers run in the same advance when due', () => {
    const c = new VirtualClock();
    const seen: number[] = [];
    c.after(5, 'first', () => {
      seen.push(c.now());
      c.after(5, 'second', () => seen.push(c.now()));
      c.after(0, 'now', () => seen.push(-c.now()));
    });
    c.advance(20);
    assert.deepEqual(seen, [5, -5, 10]);
  });

  it('cancel removes a timer; pending and nextDeadline ignore it', () => {
    const c = new VirtualClock();
    let ran = false;
    const id = c.schedule(7, 'x', () => (ran = true));
    c.schedule(9, 'y', () => undefined);
    assert.equal(c.cancel(id), true);
    assert.equal(c.cancel(id), false);
    assert.equal(c.pending(), 1);
    assert.equal(c.nextDeadline(), 9);
    c.advance(100);
    assert.equal(ran, false);
  });

  it('time never goes back; a past schedule is clamped to now', () => {
    const c = new VirtualClock();
    c.advance(50);
    assert.throws(() => c.advanceTo(10), RangeError);
    let at = -1;
    c.schedule(3, 'late', () => (at = c.now()));
    c.runNext();
    assert.equal(at, 50);
  });

  it('runUntilIdle is bounded against timers that re-arm forever', () => {
    const c = new VirtualClock();
    const rearm = () => c.after(1, 'again', rearm);
    rearm();
    assert.throws(() => c.runUntilIdle(1000), /still busy after 1000/);
  });

  it('keeps order across thousands of timers (heap)', () => {
    const c = new VirtualClock();
    const seen: number[] = [];
    for (let i = 0; i < 5000; i++) c.schedule((i * 7919) % 1000, 't', () => seen.push(c.now()));
    c.runUntilIdle();
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!);
    assert.equal(seen.length, 5000);
  });

  it('refuses a fractional time instead of rounding now() past a due timer (integer nanoseconds)', () => {
    // advanceTo(10.6) used to leave the timer due at 11 unrun while now() read 11.
    const c = new VirtualClock();
    let ran = false;
    c.schedule(11, 'due at 11', () => (ran = true));
    assert.throws(() => c.advanceTo(10.6), /advanceTo\(10\.6\): virtual time is an integer/);
    assert.throws(() => c.advance(0.5), /advance\(0\.5\)/);
    assert.throws(() => c.schedule(3.2, 'x', () => undefined), /schedule\(x\): time 3\.2/);
    assert.throws(() => c.after(Number.NaN, 'y', () => undefined), /after\(y\)/);
    assert.equal(c.now(), 0, 'nothing moved');
    c.advanceTo(11);
    assert.equal(ran, true);
    assert.equal(c.now(), 11);
  });

  it('pendingTimers and timer(id) expose the (time, sequence) order a snapshot must keep', () => {
    const c = new VirtualClock();
    const b = c.schedule(5, 'b', () => undefined);
    const a = c.schedule(5, 'a', () => undefined);
    c.schedule(1, 'first', () => undefined);
    assert.deepEqual(
      c.pendingTimers().map((t) => t.label),
      ['first', 'b', 'a'],
    );
    assert.ok(c.timer(b)!.seq < c.timer(a)!.seq);
    c.cancel(a);
    assert.equal(c.timer(a), undefined);
  });
});
