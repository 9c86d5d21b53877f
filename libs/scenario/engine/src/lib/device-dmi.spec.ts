// SPDX-License-Identifier: Apache-2.0
// Direct memory for the devices (device-dmi.ts and the fleet's half in libs/endpoint/devices):
// runs in one process with the fleet answering granted requests itself must give the reference
// report byte for byte, in the scenarios that stress each rule; broken on purpose the run must
// not pass for the reference; and a forged or malformed grant is refused by name.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkDeviceDmiIn, type FleetRequest } from '@kdump-twin/endpoint';
import { buildScenario, entryDocument, findEntry } from '../catalogue';
import { reportJson } from './report';
import { localLinks, runScenario } from './runner';
import { POLICIES, type ScenarioSpec } from './spec';
import { DeviceGrants } from './device-dmi';
import { PlatformRole } from './platform-role';

/** The reference report and the report with device DMI in `mode`, and what the fleet served and the platform checked. */
async function both(spec: () => ScenarioSpec, mode: 'on' | 'no-invalidate' = 'on') {
  const ref = reportJson(await runScenario(spec()));
  const links = localLinks(spec(), { deviceDmi: mode });
  let p: PlatformRole | undefined;
  let got: string;
  try {
    got = reportJson(await runScenario(spec(), { links, onPlatform: (x) => (p = x) }));
  } catch (e) {
    got = `run failed: ${(e as Error).message}`;
  }
  const fleet = links.fleet as { sim?: { dmi: { served: number } } };
  return { ref, got, served: fleet.sim!.dmi.served, checked: p?.deviceGrants?.checked ?? 0 };
}

const entry = (id: string) => () => findEntry(id)!;

describe('direct memory for devices: the same report as the reference', () => {
  for (const policy of POLICIES) {
    it(`baseline under ${policy}`, async () => {
      const r = await both(() => buildScenario(entryDocument(entry('baseline')()), { policy }));
      assert.equal(r.got, r.ref);
      assert.equal(r.checked, r.served, 'every request answered in the fleet was checked by the platform');
      if (policy.startsWith('adopt')) assert.ok(r.served > 5_000, `served ${r.served}`);
    });
  }

  // Each stresses a rule: a TLBI the panic cut off (stale TLB) and the kdump kernel's
  // invalidation; a table corrupted under live DMA; RAS escalation and firmware offlining; the
  // reset-time invalidation; two SMMUs; ATS-translated traffic with CR0.ATSCHK=0 and =1. (SFM
  // and SMMUEN=0 ending every grant: cached-translation.spec.ts in the SMMU model.)
  for (const [id, policy] of [
    ['R10-M3-panic-mid-unmap', 'adopt-v10'],
    ['R10-M3-panic-mid-unmap', 'status-quo'],
    ['S10a-corrupt-page-table', 'adopt-v7'],
    ['S10b-ras-escalation', 'adopt-v10'],
    ['S10j-reset-time-invalidation', 'adopt-v10'],
    ['S10k-two-smmus', 'adopt-v7'],
    ['S1a-ats-translated-inflight', 'adopt-v7'],
    ['S16-atschk-retained', 'adopt-v10'],
  ] as const) {
    it(`${id} under ${policy}`, async () => {
      const r = await both(() => buildScenario(entryDocument(entry(id)()), { policy }));
      assert.equal(r.got, r.ref);
      assert.equal(r.checked, r.served);
    });
  }

  it('a panic after N transactions (decided between two requests of a slice): no grant while it is armed, the same report', async () => {
    const spec = () => buildScenario(entryDocument(entry('baseline')()), { policy: 'adopt-v10', sets: ['crash.trigger={"kind":"transactions","count":3000}'] });
    const r = await both(spec);
    assert.match(JSON.parse(r.ref).timeline.crashReason, /after 3000 DMA transactions/);
    assert.equal(r.got, r.ref);
    assert.ok(r.served > 0, 'grants resume after the panic');
  });
});

describe('direct memory for devices broken on purpose', () => {
  it('without revocations or page updates the run does not pass for the reference: the equality tests would catch it', async () => {
    const r = await both(() => buildScenario(entryDocument(entry('baseline')()), { policy: 'adopt-v10' }), 'no-invalidate');
    assert.notEqual(r.got, r.ref);
  });

  it('the platform refuses a request that says it was answered under a grant it never made, naming it', () => {
    const spec = buildScenario(entryDocument(entry('baseline')()), { policy: 'adopt-v10' });
    const p = new PlatformRole(spec, localLinks(spec, { deviceDmi: 'on' }).fleet);
    const g = new DeviceGrants(p);
    const req: FleetRequest = {
      sid: 8,
      address: 0x1234_5000,
      size: 64,
      write: false,
      device: '0000:01:00.0',
      phase: 'desc-fetch',
      job: 1,
      generation: 0,
      latencyNs: 800,
      time: 0,
      ticket: 7,
      dmi: true,
    };
    assert.throws(
      () => g.check(req, { status: 'UR', outcome: 'aborted', pa: -1, path: 'gbpa' }),
      /0000:01:00\.0 answered its read of 64 bytes at IOVA 0x12345000 \(StreamID 8, ticket 7\) with no grant held, but the platform answers UR/,
    );
  });

  it('a malformed grant from the wire is a RangeError naming the field and the rule', () => {
    assert.throws(
      () => checkDeviceDmiIn({ grants: [{ device: 'd', sid: 1, iova: 0x1001, pa: 0x2000, read: true, write: false }] }),
      /input\.dmi\.grants\[0\]\.iova: a 4 KiB-aligned address \(got 4097\)/,
    );
    assert.throws(
      () => checkDeviceDmiIn({ pages: [{ pa: 0x3000, data: new Uint8Array(10) }] }),
      /input\.dmi\.pages\[0\]\.data: a whole page \(4096 bytes\) without offset \(got 10\)/,
    );
    assert.throws(
      () => checkDeviceDmiIn({ pages: [{ pa: 0x3000, offset: 4090, data: new Uint8Array(10) }] }),
      /input\.dmi\.pages\[0\]\.offset: with data, inside the page/,
    );
    assert.throws(() => checkDeviceDmiIn({ revoke: 'all' }), /input\.dmi\.revoke: an array/);
    assert.throws(() => checkDeviceDmiIn([]), /input\.dmi: an object/);
  });
});
