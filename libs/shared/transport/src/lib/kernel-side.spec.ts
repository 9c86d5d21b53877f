// SPDX-License-Identifier: Apache-2.0
// The kernel's end of the bus, rule by rule, against a scripted platform (every message it would
// send is recorded, every answer given by the script): read-ahead of announced loads is used
// only within the task's turn and never over its own stores; a paced thread runs its wake-ups
// ahead only before `quiet`, and every wake-up and store it made reaches the platform, in order,
// with its next message. The equality tests over NATS (transport.spec.ts) hold the whole.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildScenario, entryDocument, findEntry } from '@kdump-twin/scenario';
import { memoryMapOf, RemotePlatformPort } from './kernel-side';
import type { KernelToPlatform, TimeContext } from './protocol';
import type { Rpc } from './rpc';

const PAGE = 4096;
const RAM = 0x8000_0000;

/** A platform that records what it is sent and answers from `reply`. */
function scripted(reply: (b: KernelToPlatform) => unknown, ctx: () => Partial<TimeContext> = () => ({})) {
  const sent: KernelToPlatform[] = [];
  let now = 0;
  const rpc = {
    call: async (_subject: string, body: KernelToPlatform) => {
      sent.push(body);
      const op = body.op;
      if (op?.o === 'sleep') now += op.ns + (op.steps ?? []).reduce((n, s) => n + s.ns, 0);
      return { ctx: { now, next: null, irqs: [], ...ctx() }, value: reply(body) };
    },
    post: (_subject: string, body: KernelToPlatform) => void sent.push(body),
  } as unknown as Rpc;
  const spec = buildScenario(entryDocument(findEntry('baseline')!), { policy: 'adopt-v10' });
  const port = new RemotePlatformPort(rpc, 'twin.v1.run.t.platform', 'kdump', memoryMapOf(spec));
  port.absorb({ now: 0, next: null, irqs: [], ...ctx() });
  return { port, sent };
}

const page = (n: number) => new Uint8Array(PAGE).fill(n);

describe('read-ahead of announced loads', () => {
  const memReadReply = (b: KernelToPlatform) => {
    const op = b.op!;
    if (op.o !== 'memRead') return null;
    return { ok: true, data: page(1), ...(op.ahead ? { ahead: op.ahead.map((pa, i) => ({ pa, data: page(i + 2) })) } : {}) };
  };

  it('the first announced load brings the rest; they are served in the turn without crossing', async () => {
    const { port, sent } = scripted(memReadReply);
    port.willRead([RAM, RAM + PAGE, RAM + 2 * PAGE], PAGE);
    const a = await port.memRead('kdump', RAM, PAGE);
    assert.deepEqual(
      sent.map((b) => b.op),
      [{ o: 'memRead', pa: RAM, length: PAGE, ahead: [RAM + PAGE, RAM + 2 * PAGE] }],
    );
    const b = await port.memRead('kdump', RAM + PAGE, PAGE);
    const c = await port.memRead('kdump', RAM + 2 * PAGE, PAGE);
    assert.equal(sent.length, 1);
    assert.deepEqual([a.ok && a.data[0], b.ok && b.data[0], c.ok && c.data[0]], [1, 2, 3]);
  });

  it('one load asks for at most 64 announced pages (what the platform takes); the next beyond them asks for the rest', async () => {
    const { port, sent } = scripted(memReadReply);
    const pas = Array.from({ length: 100 }, (_, i) => RAM + i * PAGE);
    port.willRead(pas, PAGE);
    for (const pa of pas) await port.memRead('kdump', pa, PAGE);
    assert.deepEqual(
      sent.map((b) => (b.op?.o === 'memRead' ? [b.op.pa, b.op.ahead?.length] : null)),
      [
        [RAM, 64],
        [RAM + 65 * PAGE, 34],
      ],
    );
  });

  it('a sleep ends them: others may write meanwhile, so the next load crosses', async () => {
    const { port, sent } = scripted(memReadReply);
    port.willRead([RAM, RAM + PAGE], PAGE);
    await port.memRead('kdump', RAM, PAGE);
    await port.sleep(1, 10_000);
    await port.memRead('kdump', RAM + PAGE, PAGE);
    assert.deepEqual(
      sent.map((b) => b.op?.o),
      ['memRead', 'sleep', 'memRead'],
    );
  });

  it("the kernel's own store into bytes read ahead drops them", async () => {
    const { port, sent } = scripted(memReadReply);
    port.willRead([RAM, RAM + PAGE], PAGE);
    await port.memRead('kdump', RAM, PAGE);
    await port.memWrite('kdump', RAM + PAGE + 8, new Uint8Array([9]));
    await port.memRead('kdump', RAM + PAGE, PAGE);
    assert.equal(sent.length, 2);
    assert.equal(sent[1]!.op?.o, 'memRead');
    assert.deepEqual(
      sent[1]!.posted.map((p) => p.o),
      ['memWrite'],
      'the store goes first',
    );
  });
});

describe('run-ahead of a paced thread', () => {
  it("runs wake-ups before `quiet` here and sends them, with what it posted at each, as the next sleep's steps", async () => {
    const { port, sent } = scripted(
      () => null,
      () => ({ quiet: 10_000 }),
    );
    port.control('0000:01:00.0', { op: 'setTxTail', tail: 1 });
    await port.sleep(7, 4_000, undefined, { paced: true }); // wakes at 4,000: here
    assert.equal(port.now(), 4_000);
    port.control('0000:01:00.0', { op: 'setTxTail', tail: 2 });
    await port.sleep(7, 4_000, undefined, { paced: true }); // wakes at 8,000: here
    port.control('0000:01:00.0', { op: 'setTxTail', tail: 3 });
    assert.equal(sent.length, 0, 'nothing crossed yet');
    await port.sleep(7, 4_000, undefined, { paced: true }); // 12,000 is not before quiet: it crosses, carrying the window
    assert.equal(sent.length, 1);
    const op = sent[0]!.op!;
    assert.equal(op.o, 'sleep');
    assert.deepEqual(
      sent[0]!.posted.map((p) => (p.o === 'control' ? p.c : p.o)),
      [{ op: 'setTxTail', tail: 1 }],
    );
    assert.deepEqual(
      op.o === 'sleep' && [op.ns, op.steps?.map((s) => [s.ns, s.posted.map((p) => (p.o === 'control' && p.c.op === 'setTxTail' ? p.c.tail : p.o))])],
      [
        4_000,
        [
          [4_000, [2]],
          [4_000, [3]],
        ],
      ],
    );
    assert.equal(port.ranAhead, 2);
  });

  it('a load closes the window first: its wake-ups and the stores since go as one sleep, then the load', async () => {
    const { port, sent } = scripted(
      (b) => (b.op?.o === 'memRead' ? { ok: true, data: new Uint8Array(16) } : null),
      () => ({ quiet: 10_000 }),
    );
    await port.sleep(7, 4_000, undefined, { paced: true });
    await port.memWrite('kdump', RAM, new Uint8Array([5]));
    await port.memRead('kdump', RAM + 0x100_000, 16);
    assert.deepEqual(
      sent.map((b) => [b.op?.o, b.op?.o === 'sleep' ? b.op.then?.map((p) => p.o) : b.posted.length]),
      [
        ['sleep', ['memWrite']],
        ['memRead', 0],
      ],
    );
  });

  it('a window ends with at most 256 steps after its first sleep, the sleep that ends it included (what the platform takes in one message)', async () => {
    const { port, sent } = scripted(
      () => null,
      () => ({ quiet: Number.POSITIVE_INFINITY }),
    );
    for (let i = 0; i < 300; i++) await port.sleep(7, 1_000, undefined, { paced: true });
    assert.equal(sent.length, 1);
    const op = sent[0]!.op!;
    assert.equal(op.o === 'sleep' && op.steps?.length, 256);
  });

  it('no run-ahead without the promise, with a next-load hint, or past quiet', async () => {
    const { port, sent } = scripted(
      () => null,
      () => ({ quiet: 5_000 }),
    );
    await port.sleep(7, 1_000);
    await port.sleep(7, 1_000, { pa: RAM, length: 16 }, { paced: true });
    await port.sleep(7, 10_000, undefined, { paced: true });
    assert.equal(sent.length, 3);
    assert.equal(port.ranAhead, 0);
  });
});

describe('wait-until', () => {
  it("a poll's sleep carries its loads to the platform, and the wake-up's bytes come with the answer", async () => {
    const slot = { pa: RAM + 0x40, length: 4 };
    const { port, sent } = scripted((b) => (b.op?.o === 'sleep' ? new Uint8Array([1, 0, 0, 0]) : null));
    const wait = { loads: [slot], poll: { deadline: 1_000_000_000, step: 1000 } };
    await port.sleep(3, 1000, slot, { wait });
    assert.deepEqual(
      sent.map((b) => b.op),
      [{ o: 'sleep', task: 3, ns: 1000, next: slot, wait }],
    );
    const r = await port.memRead('kdump', slot.pa, 4);
    assert.equal(sent.length, 1, 'the load after the wake-up is the answer of the wait');
    assert.deepEqual(r.ok && [...r.data], [1, 0, 0, 0]);
  });

  it('endWait is posted: it reaches the platform with the next message, before that message waits', async () => {
    const { port, sent } = scripted(() => null);
    port.endWait(-1);
    await port.sleep(2, 5000);
    assert.deepEqual(sent[0]!.posted, [{ o: 'endWait', task: -1 }]);
  });
});
