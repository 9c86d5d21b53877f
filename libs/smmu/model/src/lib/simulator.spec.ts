// SPDX-License-Identifier: Apache-2.0
// The platform's backing bound (memory.maxBackedBytes) is a limit of the simulator, not guest
// behaviour: meeting it is recorded as a simulator error, never disguised as an architected
// error (GERROR.EVENTQ_ABT_ERR, MSI_*_ABT_ERR, F_WALK_EABT, a completer abort), never thrown.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bringUp, cmd, fixture, RAM_BASE, ste, submit } from '../testing/fixture';
import { walk, type WalkMemory } from './walker';
import { findFormat } from '@kdump-twin/smmu-arch';

describe('simulator errors at the backing bound (platform README; not IHI0070 behaviour)', () => {
  /** Two backed pages: the 16-STE stream table and the command queue; nothing else fits. */
  function full() {
    const f = fixture({}, 2 * 4096);
    const q = bringUp(f, { strtabLog2: 4 });
    submit(f, q, [cmd.sync()]); // backs the command queue page
    assert.equal(f.memory.backedBytes(), 2 * 4096);
    return { f, q };
  }

  it('an event record the platform cannot back: a simulator error; no EVENTQ_ABT_ERR, PROD unchanged, not recorded', () => {
    const { f, q } = full();
    f.writeWords(q.strtab + 64 * 3, [0n, 0n, 0n, 0n, 0n, 0n, 0n, 0n]);
    const r = f.smmu.translate({ sid: 3, address: 0, size: 4, write: false });
    assert.deepEqual([r.event, r.recorded], ['C_BAD_STE', false]);
    assert.equal(f.reg('GERROR'), 0n);
    assert.equal(f.field('EVENTQ_PROD', 'WR'), 0);
    assert.equal(f.smmu.events().at(-1)!.fate, 'simulator-limit');
    assert.equal(f.smmu.counters.simulatorErrors, 1);
    assert.equal(f.smmu.counters.eventsDroppedAbort, 0);
    const [e] = f.smmu.simulatorErrors();
    assert.match(e!.what, /^event record write at 0x/);
    assert.match(e!.message, /above memory\.maxBackedBytes=8192/);
    assert.equal(f.memory.simulatorErrors().count, 1, 'the platform counted it too');
  });

  it('a CMD_SYNC MSI to memory the platform cannot back: a simulator error, not GERROR.MSI_CMDQ_ABT_ERR', () => {
    const { f, q } = full();
    submit(f, q, [cmd.sync('IRQ', RAM_BASE + 0x80_0000, 1)]);
    assert.equal(f.field('GERROR', 'MSI_CMDQ_ABT_ERR'), 0);
    assert.equal(f.reg('GERROR'), 0n);
    assert.match(f.smmu.simulatorErrors()[0]!.what, /CMD_SYNC MSI write to 0x80800000/);
    assert.equal(f.field('CMDQ_CONS', 'RD'), f.field('CMDQ_PROD', 'WR'), 'the command completed');
  });

  it('a DMA write to memory the platform cannot back completes as simulator-error, not completer-abort', () => {
    const { f, q } = full();
    f.writeWords(q.strtab + 64 * 6, ste({ Config: 'BYPASS' }));
    const d = f.smmu.dma({ sid: 6, address: RAM_BASE + 0x80_0000, write: true }, new Uint8Array(8));
    assert.equal(d.completion, 'simulator-error');
    assert.equal(d.translations[0]!.outcome, 'bypassed');
    assert.match(f.smmu.simulatorErrors()[0]!.what, /^DMA write of 8 bytes at 0x80800000 for StreamID 6$/);
    // The architected case stays what it was.
    assert.equal(f.smmu.dma({ sid: 6, address: 0x0800_0000, write: true }, new Uint8Array(8)).completion, 'completer-abort');
  });

  it('the walker reports a refused HTTU write as a simulator limit, not an external abort', () => {
    const desc = findFormat('pte-s1-4k-page')!.build({ Valid: 1, AF: 0, AP: 'RW_ANY', OutputAddress: 0x8800_0000n })[0]!;
    const mem: WalkMemory = {
      readDword: (_pa, out) => {
        out.lo = Number(desc & 0xffffffffn);
        out.hi = Number(desc >> 32n);
        return undefined;
      },
      writeDword: () => 'backing-limit',
    };
    const r = walk(
      mem,
      {
        stage: 1,
        granule: '4k',
        inputBits: 21,
        startLevel: 3,
        table: RAM_BASE,
        outputBits: 48,
        bigEndian: false,
        ha: true,
        hd: false,
        affd: false,
        had: false,
        wxn: false,
      },
      0x1000,
      false,
      0,
    );
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.simulator, true);
  });
});
