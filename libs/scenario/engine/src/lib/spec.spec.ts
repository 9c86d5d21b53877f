// SPDX-License-Identifier: Apache-2.0
// Bad scenario input gets an error naming the key and the rule; `--set` reaches any key.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { baselineDocument, buildScenario, entryDocument, findEntry, merge } from '../catalogue';
import { runScenario } from './runner';
import { SchemaError } from './schema';
import { applyOverrides, parseScenario } from './spec';
import { localLinks } from './runner';
import { PlatformRole } from './platform-role';

function rejects(doc: unknown, path: string, rule: RegExp): void {
  assert.throws(
    () => parseScenario(doc),
    (e: unknown) => {
      assert.ok(e instanceof SchemaError, String(e));
      const hit = e.issues.find((i) => i.path === path);
      assert.ok(hit, `no issue at ${path}: ${e.message}`);
      assert.match(hit.rule, rule);
      assert.ok(e.message.includes(path), 'the message names the key');
      return true;
    },
  );
}

describe('scenario validation', () => {
  it('the baseline validates and gets the defaults', () => {
    const s = parseScenario(baselineDocument());
    assert.equal(s.platform.smmus[0]!.config.sidBits, 16);
    assert.equal(s.devices.length, 4);
    assert.equal(s.kdump.policy, 'adopt-v7');
    assert.equal(s.devices[2]!.traffic.outstanding, 128);
  });

  it('unknown keys are named, with the known ones', () => {
    rejects(merge(baselineDocument(), { crash: { kexecDelay: 5 } }), 'crash.kexecDelay', /unknown key \(known: trigger, kexecDelayNs, smmuProbeDelayNs\)/);
    const d = baselineDocument();
    (d.devices as Record<string, unknown>[])[1]!.trafic = {};
    rejects(d, 'devices[1].trafic', /unknown key/);
    const t = baselineDocument();
    (t.devices as Record<string, unknown>[])[0]!.traffic = { rxEntrie: 4 };
    rejects(t, 'devices[0].traffic.rxEntrie', /unknown key/);
  });

  it('out-of-range values and wrong types name the key and the range', () => {
    rejects(merge(baselineDocument(), { crash: { kexecDelayNs: -1 } }), 'crash.kexecDelayNs', /must be in \[0, /);
    rejects(merge(baselineDocument(), { platform: { paBits: 60 } }), 'platform.paBits', /\[32, 52\], got 60/);
    rejects(
      merge(baselineDocument(), { platform: { ras: 'cosmic-rays' } }),
      'platform.ras',
      /one of os-first, firmware-first, firmware-first-no-os, cxl-offline/,
    );
    rejects(merge(baselineDocument(), { kdump: { policy: 'adopt-v8' } }), 'kdump.policy', /one of status-quo, adopt-v7, adopt-v10/);
    rejects(merge(baselineDocument(), { seed: 1.5 }), 'seed', /integer or a string/);
    rejects(
      merge(baselineDocument(), { crash: { trigger: { kind: 'eventually' } } }),
      'crash.trigger.kind',
      /one of time, transactions, mid-ste-update, mid-unmap/,
    );
  });

  it('cross-references are checked: device names, SMMU indices, trigger targets', () => {
    const d = baselineDocument();
    (d.devices as Record<string, unknown>[])[1]!.name = '0000:01:00.0';
    rejects(d, 'devices[1].name', /duplicate device name/);
    rejects(
      merge(baselineDocument(), { crash: { trigger: { kind: 'mid-unmap', device: '0000:09:00.0' } } }),
      'crash.trigger.device',
      /no device named 0000:09:00.0/,
    );
    const s = baselineDocument();
    (s.devices as Record<string, unknown>[])[0]!.smmu = 3;
    rejects(s, 'devices[0].smmu', /no SMMU 3/);
  });

  it('a fault naming a register or field that does not exist is rejected at the injection, naming it', async () => {
    const spec = buildScenario(entryDocument(findEntry('S5-plain-l1-reads')!), {
      sets: ['injections=[{"fault":{"kind":"register","name":"STRTAB_BASED","value":0}}]'],
    });
    await assert.rejects(runScenario(spec), (e: unknown) => e instanceof SchemaError && /injections\[0\]\.fault: no register STRTAB_BASED/.test(e.message));
    const f = buildScenario(entryDocument(findEntry('S5-plain-l1-reads')!), { sets: ['injections=[{"fault":{"kind":"ste","sid":256,"set":{"Konfig":1}}}]'] });
    await assert.rejects(runScenario(f), (e: unknown) => e instanceof SchemaError && /STE has no field Konfig/.test(e.message));
  });

  it('SMMU configurations the hardware model rejects are reported under the scenario key', () => {
    const spec = buildScenario(baselineDocument(), { sets: ['platform.smmus[0].config.twoLevelStrtab=false'] });
    assert.throws(
      () => new PlatformRole(spec, localLinks(spec).fleet),
      (e: unknown) => e instanceof SchemaError && /platform\.smmus\[0\]\.config\.twoLevelStrtab: IDR0\.ST_LEVEL/.test(e.message),
    );
  });
});

describe('--set overrides', () => {
  it('dotted keys, list indices, device names, JSON values', () => {
    const d = applyOverrides(baselineDocument(), [
      'crash.trigger.atNs=300000',
      'devices[2].traffic.outstanding=64',
      'devices.0000:01:00.0.ats=true',
      'platform.ras=os-first',
      'injections=[{"fault":{"kind":"sfm"}}]',
    ]);
    const s = parseScenario(d);
    assert.equal((s.crash.trigger as { atNs: number }).atNs, 300_000);
    assert.equal(s.devices[2]!.traffic.outstanding, 64);
    assert.equal(s.devices[0]!.ats, true);
    assert.equal(s.platform.ras, 'os-first');
    assert.equal(s.injections[0]!.fault.kind, 'sfm');
  });

  it('a malformed override or a missing list entry is named', () => {
    assert.throws(() => applyOverrides(baselineDocument(), ['crash.trigger.atNs']), /--set: crash\.trigger\.atNs: expected key=value/);
    assert.throws(() => applyOverrides(baselineDocument(), ['devices[9].ats=true']), /devices\.\[9\]: no list entry/);
    assert.throws(
      () => buildScenario(baselineDocument(), { sets: ['devices[0].traffic.rxIntervalNs=fast'] }),
      /devices\[0\]\.traffic\.rxIntervalNs: must be an integer, got "fast"/,
    );
  });
});
