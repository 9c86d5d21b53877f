// SPDX-License-Identifier: Apache-2.0
// The sequencer's one order: timers, then actors, then tasks at equal times; one task at a time;
// sleeping tasks wake in time and registration order; halting an owner ends its tasks; remote
// tasks park themselves and are resumed the same way.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { VirtualClock } from './clock';
import { Sequencer, TaskHalted } from './sequencer';

describe('Sequencer', () => {
  it('abort ends run() with the error, also while it waits for a task that will never yield', async () => {
    const s = new Sequencer(new VirtualClock());
    let entered!: () => void;
    const inside = new Promise<void>((r) => (entered = r));
    // A remote task: it got its turn, and the process running it is gone (it never sleeps or ends).
    s.spawn('gone', 'kdump', async () => {
      entered();
      await new Promise(() => undefined);
    });
    const run = s.run(() => false);
    await inside;
    s.abort(new Error('kdump-driver went away'));
    await assert.rejects(run, /kdump-driver went away/);
  });

  it('runs timers, then actors, then tasks at the same instant, and tasks one at a time', async () => {
    const clock = new VirtualClock();
    const s = new Sequencer(clock);
    const log: string[] = [];
    let actorNext: number | undefined = 100;
    s.addActor({ nextEventTime: () => actorNext, step: async (t) => void (log.push(`actor@${t}`), (actorNext = t === 100 ? 200 : undefined)) });
    clock.schedule(100, 'timer', () => log.push(`timer@${clock.now()}`));
    let ended = false;
    s.spawn('a', 'k', async (ctx) => {
      log.push(`a@${ctx.now()}`);
      await ctx.sleep(100);
      log.push(`a@${ctx.now()}`);
      await ctx.sleep(100);
      log.push(`a@${ctx.now()}`);
    });
    s.spawn('b', 'k', async (ctx) => {
      await ctx.sleep(100);
      log.push(`b@${ctx.now()}`);
      ended = true;
    });
    await s.run(() => ended && s.nextEventTime() === undefined);
    assert.deepEqual(log, ['a@0', 'timer@100', 'actor@100', 'a@100', 'b@100', 'actor@200', 'a@200']);
  });

  it('quiet() is the first instant anything but the actors and the running task may happen; horizon() counts the actors too', async () => {
    const clock = new VirtualClock();
    const s = new Sequencer(clock);
    s.addActor({ nextEventTime: () => 10, step: async () => undefined });
    clock.schedule(500, 'timer', () => undefined);
    s.spawn('b', 'k', async (ctx) => {
      await ctx.sleep(300);
    });
    let seen: (number | undefined)[] = [];
    s.spawn('a', 'k', async (ctx) => {
      seen = [s.quiet(), s.horizon()];
      await ctx.sleep(1_000);
    });
    await s.run(() => seen.length > 0);
    // a runs at 0: b wakes at 300, the timer fires at 500, the fleet-like actor steps at 10.
    assert.deepEqual(seen, [300, 10]);
    const t = new Sequencer(new VirtualClock());
    let q: (number | undefined)[] = [];
    t.spawn('only', 'k', async () => {
      q = [t.quiet(), t.horizon()];
    });
    await t.run(() => q.length > 0, 50);
    assert.deepEqual(q, [51, 51], 'the run limit bounds both');
  });

  it('nothing else happens while a task runs, even across awaits that are not sleeps', async () => {
    const clock = new VirtualClock();
    const s = new Sequencer(clock);
    const log: string[] = [];
    s.spawn('slow', 'k', async (ctx) => {
      log.push('slow start');
      await new Promise((r) => setImmediate(r));
      await Promise.resolve();
      log.push(`slow end @${ctx.now()}`);
    });
    s.spawn('other', 'k', async () => void log.push('other'));
    await s.run(() => false);
    assert.deepEqual(log, ['slow start', 'slow end @0', 'other']);
  });

  it("a halted owner's tasks get TaskHalted at their next turn and end", async () => {
    const clock = new VirtualClock();
    const s = new Sequencer(clock);
    const seen: string[] = [];
    s.spawn('poll', 'primary', async (ctx) => {
      for (;;) {
        try {
          await ctx.sleep(10);
        } catch (e) {
          seen.push((e as TaskHalted).reason);
          return;
        }
      }
    });
    s.spawn('panic', 'runner', async (ctx) => {
      await ctx.sleep(35);
      s.halt('primary', 'panic');
    });
    await s.run(() => false);
    assert.deepEqual(seen, ['panic']);
    assert.equal(s.nextEventTime(), undefined, 'no task left');
  });

  it('a remote task parks with sleep(id, 0), is resumed in its turn, and says when it ends', async () => {
    const clock = new VirtualClock();
    const s = new Sequencer(clock);
    const log: string[] = [];
    const id = s.spawn('remote', 'kdump');
    // Its code lives "elsewhere": it parks later than its spawn, from outside the loop.
    setImmediate(async () => {
      await s.sleep(id, 0);
      log.push(`remote@${s.now()}`);
      await s.sleep(id, 50);
      log.push(`remote@${s.now()}`);
      s.finish(id);
    });
    s.spawn('local', 'runner', async (ctx) => {
      await ctx.sleep(20);
      log.push(`local@${ctx.now()}`);
    });
    await s.run(() => false);
    assert.deepEqual(log, ['remote@0', 'local@20', 'remote@50']);
  });

  it('nextEventTime is the earliest of timers, actors and parked tasks; bad sleeps are refused', async () => {
    const clock = new VirtualClock();
    const s = new Sequencer(clock);
    clock.schedule(70, 't', () => undefined);
    s.addActor({ nextEventTime: () => 40, step: async () => undefined });
    const id = s.spawn('x', 'k');
    assert.equal(s.nextEventTime(), 0);
    await assert.rejects(s.sleep(999, 1), /no task 999/);
    s.finish(id);
    assert.equal(s.nextEventTime(), 40);
    const t = s.spawn('y', 'k', async (ctx) => void (await ctx.sleep(1.5)));
    await assert.rejects(
      s.run(() => false, 0),
      /sleep\(1\.5\)/,
    );
    assert.ok(t > 0);
  });

  it('a wake-up an actor ran past (passWake) is the registration the turn would have made: same order against others at equal times, no turn', async () => {
    // Two runs: in one, task w sleeps 100 three times itself; in the other, an actor runs past
    // its wake-ups at 100 and 200 (w is left out of the actor's horizon). Task o wakes at 300
    // too, registered earlier: it goes first in both.
    const order = async (pass: boolean) => {
      const clock = new VirtualClock();
      const s = new Sequencer(clock);
      const log: string[] = [];
      let w = 0;
      let actorNext: number | undefined = pass ? 50 : undefined;
      const actor = {
        nextEventTime: () => actorNext,
        step: async (t: number) => {
          log.push(`actor@${t} until ${s.horizon(actor, new Set([w]))} (all: ${s.horizon(actor)})`);
          for (const at of [100, 200]) {
            clock.advanceTo(at);
            s.passWake(w, 100);
          }
          actorNext = undefined;
        },
      };
      s.addActor(actor);
      let turns = 0;
      s.spawn('o', 'k', async (ctx) => {
        await ctx.sleep(300);
        log.push(`o@${ctx.now()}`);
      });
      w = s.spawn('w', 'k', async (ctx) => {
        await ctx.sleep(100);
        for (; ctx.now() < 300; turns++) await ctx.sleep(100);
        log.push(`w@${ctx.now()} after ${turns} turns`);
      });
      await s.run(() => false);
      return log;
    };
    assert.deepEqual(await order(false), ['o@300', 'w@300 after 2 turns']);
    assert.deepEqual(await order(true), ['actor@50 until 300 (all: 100)', 'o@300', 'w@300 after 0 turns']);
  });

  it('passWake refuses a task that has no wake-up now, and a sleep that is not positive', () => {
    const clock = new VirtualClock();
    const s = new Sequencer(clock);
    const id = s.spawn('remote', 'k');
    assert.throws(() => s.passWake(id, 0), /a positive integer of ns/);
    assert.throws(() => s.passWake(999, 100), /task 999 has no wake-up now/);
    clock.advanceTo(10);
    assert.throws(() => s.passWake(id, 100), /task 1 has no wake-up now \(10\)/);
  });
});
