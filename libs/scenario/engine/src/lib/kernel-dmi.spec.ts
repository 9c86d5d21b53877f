// SPDX-License-Identifier: Apache-2.0
// Direct memory for kernels, rule by rule, on the platform of a baseline run: what is granted,
// what every answer carries back (another writer's bytes, a refused store, an offlined region,
// halted CPUs), and the kernel's cache serving loads and writing its stores through. The
// equality of whole runs with and without it is in libs/shared/transport (dmi over NATS).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { baselineDocument, buildScenario } from '../catalogue';
import { DMI_PAGE, PageCache, PageGrants } from './kernel-dmi';
import { PlatformRole } from './platform-role';
import { LocalFleet } from './runner';

const RAM = 0x8000_0000; // primary-ram in the default layout
const CRASHKERNEL = 0xe000_0000;
const HOLE = 0x1000_0000;
const SMMU_REGS = 0x0900_0000;

function platform() {
  const spec = buildScenario(baselineDocument(), { policy: 'adopt-v10' });
  const p = new PlatformRole(spec, new LocalFleet(spec));
  const device = p.memory.internWriter({ kind: 'device-translated', sid: 0x100 });
  return { p, device, grants: new PageGrants(p), cache: new PageCache(16) };
}

const bytes = (...b: number[]) => new Uint8Array(b);

describe('direct memory for kernels: what the platform grants', () => {
  it('grants the pages under a load of plain memory with their bytes, once; the cache then serves loads inside them', () => {
    const { p, device, grants, cache } = platform();
    p.memory.write(RAM + 0xff8, bytes(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16), device);
    // A load across a page boundary: both pages.
    const g = grants.grant('primary', RAM + 0xff8, 16);
    assert.deepEqual(
      g.map((i) => i.pa),
      [RAM, RAM + DMI_PAGE],
    );
    assert.deepEqual([...g[0]!.data!.subarray(0xff8)], [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(grants.grant('primary', RAM + 8, 8), [], 'a held page is not granted again');
    cache.take(g);
    assert.deepEqual([...cache.read(RAM + 0xffc, 8)!], [5, 6, 7, 8, 9, 10, 11, 12]);
    assert.equal(cache.read(RAM + 2 * DMI_PAGE - 4, 8), undefined, 'a load reaching a page not held misses');
    assert.deepEqual([cache.hits, cache.misses], [1, 1]);
    assert.equal(grants.holding('primary'), 2);
    assert.equal(grants.holding('kdump'), 0, 'per kernel');
  });

  it('grants nothing under a hole, MMIO, a bad address, or when the kernel asked for nothing', () => {
    const { grants } = platform();
    assert.deepEqual(grants.grant('kdump', HOLE, 8), []);
    assert.deepEqual(grants.grant('kdump', SMMU_REGS, 4), []);
    assert.deepEqual(grants.grant('kdump', -4096, 8), []);
    assert.deepEqual(grants.grant('kdump', RAM + 0.5, 8), []);
    assert.deepEqual(grants.grant('kdump', RAM, 0), []);
    assert.equal(grants.holding('kdump'), 0);
  });

  it('off grants nothing, so every load crosses', () => {
    const { p } = platform();
    assert.deepEqual(new PageGrants(p, 'off').grant('primary', RAM, 8), []);
  });
});

describe('direct memory for kernels: what every answer carries', () => {
  it("another writer's store to a held page comes with the next answer, with the page's bytes; the kernel's own store does not", () => {
    const { p, device, grants, cache } = platform();
    cache.take(grants.grant('kdump', CRASHKERNEL, 8));
    assert.deepEqual(grants.changes('kdump'), []);
    // The kdump kernel's own store: written through into its copy, not sent back.
    const own = bytes(0xaa, 0xbb);
    cache.write(CRASHKERNEL + 16, own);
    p.memory.write(CRASHKERNEL + 16, own, p.cpuWriter('kdump'));
    assert.deepEqual(grants.changes('kdump'), []);
    assert.deepEqual([...cache.read(CRASHKERNEL + 16, 2)!], [0xaa, 0xbb]);
    // A device's DMA write (and one to a page not held, which is not sent).
    p.memory.write(CRASHKERNEL + 0x100, bytes(7, 7, 7), device);
    p.memory.write(CRASHKERNEL + 5 * DMI_PAGE, bytes(9), device);
    const c = grants.changes('kdump');
    assert.deepEqual(
      c.map((i) => [i.pa, i.offset, [...i.data!]]),
      [[CRASHKERNEL, 0x100, [7, 7, 7]]],
      'only the bytes written',
    );
    cache.take(c);
    assert.deepEqual([...cache.read(CRASHKERNEL + 0x100, 3)!], [7, 7, 7]);
    assert.deepEqual([...cache.read(CRASHKERNEL + 16, 2)!], [0xaa, 0xbb], 'the page as the platform has it now: both stores');
    assert.deepEqual(grants.changes('kdump'), [], 'each change once');
  });

  it('overlapping writes go as one range of the bytes as they are now; past 1 KiB written, the whole page', () => {
    const { p, device, grants, cache } = platform();
    cache.take(grants.grant('primary', RAM, 8));
    p.memory.write(RAM + 8, bytes(1, 1, 1, 1), device);
    p.memory.write(RAM + 10, bytes(2, 2, 2, 2), device);
    p.memory.write(RAM + 64, bytes(3), device);
    assert.deepEqual(
      grants.changes('primary').map((i) => [i.offset, [...i.data!]]),
      [
        [8, [1, 1, 2, 2, 2, 2]],
        [64, [3]],
      ],
    );
    p.memory.write(RAM + 100, new Uint8Array(2048).fill(5), device);
    const whole = grants.changes('primary');
    assert.deepEqual(
      whole.map((i) => [i.pa, i.offset, i.data!.length]),
      [[RAM, undefined, DMI_PAGE]],
    );
    cache.take(whole);
    assert.deepEqual([...cache.read(RAM + 2146, 4)!], [5, 5, 0, 0]);
  });

  it('a store of its own the platform refused comes back as the platform has the page', () => {
    const { grants, cache } = platform();
    cache.take(grants.grant('primary', RAM, 4));
    cache.write(RAM, bytes(1, 2, 3, 4));
    grants.refused('primary', RAM, 4);
    cache.take(grants.changes('primary'));
    assert.deepEqual([...cache.read(RAM, 4)!], [0, 0, 0, 0]);
  });

  it('a region firmware offlines is dropped with the next answer and never granted again', () => {
    const { p, grants, cache } = platform();
    cache.take(grants.grant('kdump', RAM + DMI_PAGE, 8));
    cache.take(grants.grant('kdump', CRASHKERNEL, 8));
    p.ras.offlined.add('primary-ram');
    const c = grants.changes('kdump');
    assert.deepEqual(c, [{ pa: RAM + DMI_PAGE }]);
    cache.take(c);
    assert.equal(cache.read(RAM + DMI_PAGE, 8), undefined, 'the load goes to the platform, which panics the kdump kernel');
    assert.ok(cache.read(CRASHKERNEL, 8));
    assert.deepEqual(grants.grant('kdump', RAM + DMI_PAGE, 8), []);
  });

  it("the kernel's CPUs halted: every page it holds is dropped, so each later access reaches the platform and is refused", () => {
    const { p, grants, cache } = platform();
    cache.take(grants.grant('primary', RAM, 8));
    cache.take(grants.grant('primary', RAM + 3 * DMI_PAGE, 8));
    p.crash('test panic');
    const c = grants.changes('primary');
    assert.deepEqual(
      c.map((i) => [i.pa, i.data]),
      [
        [RAM, undefined],
        [RAM + 3 * DMI_PAGE, undefined],
      ],
    );
    cache.take(c);
    assert.equal(cache.size, 0);
    assert.deepEqual(grants.grant('primary', RAM, 8), []);
    assert.equal(grants.holding('primary'), 0);
  });

  it('no-invalidate (the broken mode the equality tests catch) keeps device writes from the kernel', () => {
    const { p, device } = platform();
    const grants = new PageGrants(p, 'no-invalidate');
    grants.grant('kdump', CRASHKERNEL, 8);
    p.memory.write(CRASHKERNEL, bytes(1), device);
    assert.deepEqual(grants.changes('kdump'), []);
  });
});

describe('direct memory for kernels: the kernel side', () => {
  it('is bounded: a full cache stops asking; dropped pages and a cleared cache miss', () => {
    const cache = new PageCache(2);
    assert.equal(cache.wantsMore, true);
    cache.take([
      { pa: RAM, data: new Uint8Array(DMI_PAGE) },
      { pa: RAM + DMI_PAGE, data: new Uint8Array(DMI_PAGE) },
    ]);
    assert.equal(cache.wantsMore, false);
    cache.take([{ pa: RAM }]);
    assert.equal(cache.read(RAM, 4), undefined);
    assert.ok(cache.read(RAM + DMI_PAGE, 4));
    cache.clear();
    assert.equal(cache.read(RAM + DMI_PAGE, 4), undefined);
  });

  it('serves copies: the caller cannot change what it holds', () => {
    const cache = new PageCache(1);
    cache.take([{ pa: RAM, data: new Uint8Array(DMI_PAGE) }]);
    cache.read(RAM, 4)!.fill(0xff);
    assert.deepEqual([...cache.read(RAM, 4)!], [0, 0, 0, 0]);
  });
});
