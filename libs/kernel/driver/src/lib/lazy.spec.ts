// SPDX-License-Identifier: Apache-2.0
// Lazy invalidation (iommu.strict=0: DMA-FQ default domains, dma-iommu's flush queue) and
// freeing a domain (iommu_domain_free: io-pgtable's flush of the whole context), as 6.12 does
// them, on the hardware twin: what reaches the command queue, what the TLB still translates,
// and when an IOVA can be handed out again.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findFormat, STE } from '@kdump-twin/smmu-arch';
import { IOVA_DEFAULT_FQ_SIZE, IOVA_DEFAULT_FQ_TIMEOUT_NS, timerExpiryNs } from './domain';
import { PageAllocator } from './hw';
import { LinuxKernel } from './kernel';
import { Machine } from './machine';
import type { KernelTimers } from './timers';

const CMD = findFormat('cmd')!;
const NIC = { name: 'nic', sids: [0x100] };
const BUF = 0x9400_0000;

/** Timers a test fires by hand: what the kernel armed, in order. */
function manualTimers(): KernelTimers & { armed: { name: string; ns: number; fn: () => Promise<void> }[] } {
  const armed: { name: string; ns: number; fn: () => Promise<void> }[] = [];
  return { armed, arm: (name, ns, fn) => void armed.push({ name, ns, fn }) };
}

/** The opcodes the SMMU consumes from now on. */
function consumed(m: Machine): string[] {
  const ops: string[] = [];
  m.smmu.onCommand((c) => void ops.push(CMD.decode(c.words).names.Opcode ?? '?'));
  return ops;
}

async function lazyKernel(strict = false) {
  const m = new Machine();
  const timers = manualTimers();
  const k = m.primary({ strict, timers });
  assert.deepEqual(await k.probeSmmu(), { ok: true });
  const p = await k.probeDevice(NIC);
  assert.equal(p.grouped, true);
  m.clock.advance(10_000);
  return { m, k, timers };
}

/** A 64-byte DMA read by the NIC at `iova`: its outcome. */
const read = (m: Machine, iova: number) => m.smmu.dma({ sid: 0x100, address: iova, size: 64, write: false }).translations[0]!;

describe('lazy invalidation (iommu.strict=0): the flush queue', () => {
  it('says so at boot, like iommu_subsys_init', async () => {
    const lines: string[] = [];
    LinuxKernel.iommuSubsysInit({ log: (_l, _d, text) => void lines.push(text) }, false, false);
    assert.deepEqual(lines, ['iommu: Default domain type: Translated', 'iommu: DMA domain TLB invalidation policy: lazy mode (set via kernel command line)']);
  });

  it('dma_unmap queues the IOVA: no TLBI, the TLB still translates it, and the IOVA is not handed out again', async () => {
    const { m, k, timers } = await lazyKernel();
    const iova = await k.dmaMap(NIC.name, BUF, 4096);
    assert.equal(read(m, iova).outcome, 'translated', 'the walk fills the TLB');
    const ops = consumed(m);
    await k.dmaUnmap(NIC.name, iova, 4096);
    const armedAt = m.clock.now();
    m.clock.advance(10_000);
    assert.deepEqual(ops, [], 'nothing reaches the command queue');
    const stale = read(m, iova);
    assert.deepEqual([stale.outcome, stale.tlbHit], ['translated', true], 'a stale TLB entry: the PTE is gone, the translation is not');
    assert.equal(timers.armed.length, 1, 'the first queued IOVA arms fq_timer');
    // mod_timer(jiffies + msecs_to_jiffies(10)) at HZ=250: the third 4 ms tick boundary from now.
    assert.equal(armedAt + timers.armed[0]!.ns, (Math.floor(armedAt / 4_000_000) + 3) * 4_000_000);
    assert.ok(timers.armed[0]!.ns > 8_000_000 - 1 && timers.armed[0]!.ns <= 12_000_000, String(timers.armed[0]!.ns));
    const again = await k.dmaMap(NIC.name, BUF + 0x1000, 4096);
    assert.notEqual(again, iova, 'a queued IOVA stays allocated until its flush');
  });

  it('the timer flushes the whole ASID once (TLBI_NH_ASID + CMD_SYNC), then the IOVA is free and the stale entry gone', async () => {
    const { m, k, timers } = await lazyKernel();
    const iova = await k.dmaMap(NIC.name, BUF, 4096);
    read(m, iova);
    await k.dmaUnmap(NIC.name, iova, 4096);
    const iova2 = await k.dmaMap(NIC.name, BUF + 0x2000, 4096);
    await k.dmaUnmap(NIC.name, iova2, 4096);
    assert.equal(timers.armed.length, 1, 'armed once while it is pending');
    const ops = consumed(m);
    await timers.armed[0]!.fn();
    m.clock.advance(10_000);
    assert.deepEqual(ops, ['TLBI_NH_ASID', 'CMD_SYNC']);
    assert.equal(read(m, iova).event, 'F_TRANSLATION', 'the stale translation is gone');
    assert.equal(await k.dmaMap(NIC.name, BUF + 0x4000, 4096), iova, 'both IOVAs returned to the allocator: the top one is handed out again');
    await k.dmaUnmap(NIC.name, iova, 4096);
    assert.equal(timers.armed.length, 2, 'the next queued IOVA arms the timer again');
  });

  it(`a full ring (${IOVA_DEFAULT_FQ_SIZE - 1} entries) is flushed before the next IOVA is queued`, async () => {
    const { m, k, timers } = await lazyKernel();
    const iovas: number[] = [];
    for (let i = 0; i < IOVA_DEFAULT_FQ_SIZE; i++) iovas.push(await k.dmaMap(NIC.name, BUF + i * 0x1000, 4096));
    const ops = consumed(m);
    for (let i = 0; i < IOVA_DEFAULT_FQ_SIZE - 1; i++) await k.dmaUnmap(NIC.name, iovas[i]!, 4096);
    assert.deepEqual(ops, [], `${IOVA_DEFAULT_FQ_SIZE - 1} queued, no flush yet`);
    await k.dmaUnmap(NIC.name, iovas[IOVA_DEFAULT_FQ_SIZE - 1]!, 4096);
    m.clock.advance(10_000);
    assert.deepEqual(ops, ['TLBI_NH_ASID', 'CMD_SYNC'], 'fq_full: fq_flush_iotlb, then queue');
    assert.equal(timers.armed.length, 1);
  });

  it('strict mode (the default) is unchanged: the unmap invalidates by VA and arms nothing', async () => {
    const { m, k, timers } = await lazyKernel(true);
    const iova = await k.dmaMap(NIC.name, BUF, 4096);
    read(m, iova);
    const ops = consumed(m);
    await k.dmaUnmap(NIC.name, iova, 4096);
    m.clock.advance(10_000);
    assert.deepEqual(ops, ['TLBI_NH_VA', 'CMD_SYNC']);
    assert.equal(timers.armed.length, 0);
    assert.equal(read(m, iova).event, 'F_TRANSLATION');
  });
});

describe('kernel timers on jiffies', () => {
  it('mod_timer rounds to tick boundaries: 10 ms at HZ=250 fires 8 to 12 ms later, at HZ=1000 exactly 10 ms later', () => {
    assert.equal(timerExpiryNs(0, IOVA_DEFAULT_FQ_TIMEOUT_NS, 250), 12_000_000);
    assert.equal(timerExpiryNs(3_999_999, IOVA_DEFAULT_FQ_TIMEOUT_NS, 250), 12_000_000);
    assert.equal(timerExpiryNs(4_000_000, IOVA_DEFAULT_FQ_TIMEOUT_NS, 250), 16_000_000);
    assert.equal(timerExpiryNs(1_500_000, IOVA_DEFAULT_FQ_TIMEOUT_NS, 1000), 11_000_000);
  });
});

describe('freeing a domain (iommu_domain_free)', () => {
  /** A page allocator that refuses its `failAt`-th allocation from now on (counting from 1). */
  class Refusing extends PageAllocator {
    count = 0;
    failAt = Infinity;
    override alloc(bytes: number, align?: number): number | undefined {
      return ++this.count === this.failAt ? undefined : super.alloc(bytes, align);
    }
  }

  it('a first attach that fails (the CD table): the STE goes back to abort, the domain is freed with a flush of its ASID, the ASID returns, no group', async () => {
    const m = new Machine();
    const ram = m.memory.region('primary-ram')!;
    const pages = new Refusing(ram.base, ram.size);
    const asids = new Map<number, string>();
    const k = m.primary({ pages, asids });
    assert.deepEqual(await k.probeSmmu(), { ok: true });
    // probe_device's lazy L2 table, the io-pgtable root: then the CD table is refused.
    pages.count = 0;
    pages.failAt = 3;
    const ops = consumed(m);
    const p = await k.probeDevice(NIC);
    m.clock.advance(10_000);
    assert.deepEqual([p.grouped, p.errno], [false, 'ENOMEM']);
    assert.equal(k.log.grep('WARNING: CPU: 0 PID: 1 at drivers/iommu/iommu.c iommu_setup_default_domain').length, 1);
    const flush = ops.lastIndexOf('TLBI_NH_ASID');
    assert.ok(flush > ops.lastIndexOf('CFGI_STE'), `free_io_pgtable_ops flushes after release_device's STE write: ${ops.join()}`);
    assert.deepEqual(ops.slice(flush), ['TLBI_NH_ASID', 'CMD_SYNC']);
    assert.equal(asids.size, 0, 'the ASID is released');
    assert.equal(k.master(NIC.name), undefined, 'the master is gone');
    const ste = await k.smmu.hw.readWords(k.smmu.stePa(0x100)!, 2);
    assert.deepEqual([STE.get(ste, 'V'), STE.get(ste, 'Config')], [1n, 0n], 'an abort STE, as arm_smmu_init_strtab set it');
    assert.deepEqual(await k.dmaMapResult(NIC.name, BUF, 4096), { ok: true, iova: BUF }, 'dma-direct');
  });

  it('a freed lazy domain: its pending flush-queue timer does nothing', async () => {
    const { m, k, timers } = await lazyKernel();
    const iova = await k.dmaMap(NIC.name, BUF, 4096);
    await k.dmaUnmap(NIC.name, iova, 4096);
    const d = k.defaultDomain(NIC.name)!;
    const ops = consumed(m);
    await k.domains.free(d);
    m.clock.advance(10_000);
    assert.deepEqual(ops, ['TLBI_NH_ASID', 'CMD_SYNC'], 'free_io_pgtable_ops flushes the context');
    await timers.armed[0]!.fn();
    m.clock.advance(10_000);
    assert.deepEqual(ops, ['TLBI_NH_ASID', 'CMD_SYNC'], 'del_timer_sync: nothing more');
  });
});
