// SPDX-License-Identifier: Apache-2.0
// The LinuxKernel API a scenario runner drives: per-device failures come back as errnos (never
// exceptions), dma-direct for devices without an IOMMU group or with an identity domain, and
// the options for one kernel driving several SMMUs (a shared page allocator, 6.12's global
// ASID space, v10's per-SMMU one).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { crashedMachine, NIC } from '../testing/scenario';
import { PageAllocator } from './hw';
import { Machine } from './machine';

const BUF = 0x9000_0000;

describe('per-device failures are errnos, not exceptions', () => {
  /** A kernel whose (shared, global) ASID space is already full: 8-bit ASIDs 1..255 taken. */
  function fullAsids(): Map<number, string> {
    return new Map(Array.from({ length: 255 }, (_, i) => [i + 1, `elsewhere-${i + 1}`] as [number, string]));
  }

  it('ASID exhaustion at the default domain (6.12 finalises at alloc): no group, -ENOSPC, then dma-direct', async () => {
    const m = new Machine({ smmu: { asid16: false } });
    const k = m.primary({ asids: fullAsids() });
    await k.probeSmmu();
    const p = await k.probeDevice(NIC);
    assert.deepEqual([p.grouped, p.errno], [false, 'ENOSPC']);
    assert.equal(k.master(NIC.name), undefined, 'the device left the group again');
    assert.deepEqual(await k.dmaMapResult(NIC.name, BUF, 4096), { ok: true, iova: BUF }, 'dma-direct: the DMA address is the PA');
    assert.deepEqual(await k.dmaUnmap(NIC.name, BUF, 4096), { ok: true });
  });

  it("with finaliseAt=attach the first attach fails: 6.12's iommu core unwinds the probe (WARN_ON, no group, dma-direct)", async () => {
    const m = new Machine({ smmu: { asid16: false } });
    const k = m.primary({ asids: fullAsids(), finaliseAt: 'attach' });
    await k.probeSmmu();
    const p = await k.probeDevice(NIC);
    assert.deepEqual([p.grouped, p.errno, p.domain], [false, 'ENOSPC', undefined]);
    assert.equal(k.log.grep('iommu_setup_default_domain').length, 1, 'the WARN_ON of a failed first attach');
    assert.equal(k.master(NIC.name), undefined, 'release_device removed the master');
    assert.deepEqual(await k.dmaMapResult(NIC.name, BUF, 4096), { ok: true, iova: BUF }, 'dma-direct: the DMA address is the PA');
  });

  it('a deferred attach that fails: firstDmaUse is false, attachError kept, dmaMapResult fails', async () => {
    const c = await crashedMachine({ smmu: { asid16: false } });
    const k = c.m.kdump('adopt-v7', { asids: fullAsids(), finaliseAt: 'attach' });
    await k.probeSmmu();
    assert.equal((await k.probeDevice(NIC)).deferred, true);
    assert.equal(await k.firstDmaUse(NIC.name), false);
    assert.equal(k.master(NIC.name)!.attachError, 'ENOSPC');
    const r = await k.dmaMapResult(NIC.name, BUF, 4096);
    assert.deepEqual(r.ok ? r : [r.ok, r.errno], [false, 'ENOSPC']);
  });

  it('-ERANGE at probe_device: no group; its DMA API is dma-direct and the enabled SMMU rejects the StreamID', async () => {
    const c = await crashedMachine({ primary: { legacyLinearStrtab: true }, devices: [{ name: 'lo', sids: [0x10] }] });
    c.m.smmu.injectRegister('STRTAB_BASE_CFG', 8n); // LINEAR, 256 STEs
    const k = c.m.kdump('adopt-v7');
    await k.probeSmmu();
    const p = await k.probeDevice({ name: 'hi', sids: [0x900] });
    assert.deepEqual([p.grouped, p.errno], [false, 'ERANGE']);
    const r = await k.dmaMapResult('hi', BUF, 4096);
    assert.deepEqual(r, { ok: true, iova: BUF });
    const t = c.m.smmu.dma({ sid: 0x900, address: BUF, write: true }, new Uint8Array(4));
    assert.deepEqual([t.completion, t.translations[0]!.event], ['abort', 'C_BAD_STREAMID']);
  });

  it('an identity default domain (iommu.passthrough=1) is dma-direct too: DMA address = PA, bypass STE', async () => {
    const m = new Machine();
    const k = m.primary({ passthrough: true });
    await k.probeSmmu();
    await k.probeDevice(NIC);
    assert.deepEqual(await k.dmaMapResult(NIC.name, BUF, 4096), { ok: true, iova: BUF });
    const t = m.smmu.dma({ sid: NIC.sids[0]!, address: BUF, write: true }, new Uint8Array(4));
    assert.deepEqual([t.completion, t.translations[0]!.path, t.translations[0]!.pa], ['ok', 'ste-bypass', BUF]);
  });

  it("no SMMU driver: every device is ungrouped (-ENODEV) and dma-direct, and meets the crashed kernel's STEs", async () => {
    const c = await crashedMachine();
    const k = c.m.kdump('no-smmu-driver');
    await k.probeSmmu();
    assert.deepEqual((await k.probeDevice(NIC)).errno, 'ENODEV');
    const buf = 0xe800_0000; // a kdump-kernel buffer
    assert.deepEqual(await k.dmaMapResult(NIC.name, buf, 4096), { ok: true, iova: buf });
    const t = c.m.smmu.dma({ sid: NIC.sids[0]!, address: buf, write: true }, new Uint8Array(4));
    assert.deepEqual([t.completion, t.translations[0]!.event], ['abort', 'F_TRANSLATION'], "the PA is looked up in the crashed domain's page table");
  });

  it('a device that was never probed: an errno, no throw', async () => {
    const m = new Machine();
    const k = m.primary();
    await k.probeSmmu();
    const r = await k.dmaMapResult('ghost', BUF, 4096);
    assert.deepEqual(r.ok ? r : [r.ok, r.errno], [false, 'ENODEV']);
    assert.equal(await k.firstDmaUse('ghost'), false);
  });
});

describe('one kernel, several SMMUs: shared pages and the ASID space', () => {
  it('DriverOptions.pages: the device allocates from the given allocator', async () => {
    const m = new Machine();
    const ram = m.memory.region('primary-ram')!;
    const pages = new PageAllocator(ram.base, ram.size);
    pages.alloc(0x10_0000); // someone else's megabyte first
    const k = m.primary({ pages });
    await k.probeSmmu();
    assert.equal(k.smmu.hw.pages, pages);
    assert.ok(k.smmu.cmdq.base >= ram.base + 0x10_0000, 'no page handed out twice');
  });

  it('DriverOptions.asids: shared by 6.12 and v7 kernels, ignored by adopt-v10 (per-SMMU asid_map)', async () => {
    const shared = new Map<number, string>();
    const c = await crashedMachine({ primary: { asids: shared } });
    assert.equal(c.p.smmu.asids, shared);
    assert.deepEqual([...shared.keys()], [1, 2], "the primary kernel's domains took ASIDs from the global space");
    const global = new Map<number, string>();
    assert.equal(c.m.kdump('adopt-v7', { asids: global }).smmu.asids, global);
    assert.equal(c.m.kdump('status-quo', { asids: global }).smmu.asids, global);
    assert.notEqual(c.m.kdump('adopt-v10', { asids: global }).smmu.asids, global);
  });
});
