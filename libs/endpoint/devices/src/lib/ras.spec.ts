// SPDX-License-Identifier: Apache-2.0
// The platform RAS policies, rule by rule (kdump-adopt-series.md R1, R10 M1/M4, S10b, S10l).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aerMessage, GHES_PANIC, PlatformRas, type KernelPhase, type RasPolicy } from './ras';
import type { AerError, AerSeverity } from './types';

const err = (severity: AerSeverity, device = '0000:01:00.0'): AerError => ({
  time: 1,
  device,
  bdf: device,
  type: 'UR',
  severity,
  role: 'requester',
  phase: 'desc-fetch',
  address: 0x1000,
});
const kinds = (policy: RasPolicy, phase: KernelPhase, severity: AerSeverity, aerServiceReady = true) =>
  new PlatformRas(policy).handle(err(severity), { phase, aerServiceReady }).kind;

describe('RAS policies', () => {
  it('Linux AER message text (drivers/pci/pcie/aer.c)', () => {
    assert.equal(aerMessage({ severity: 'non-fatal', bdf: '0000:01:00.0' }), 'AER: Uncorrectable (Non-Fatal) error message received from 0000:01:00.0');
    assert.equal(aerMessage({ severity: 'correctable', bdf: '0000:02:00.0' }), 'AER: Correctable error message received from 0000:02:00.0');
  });

  it('os-first: latched with no OS or before the AER service; then logged, and a fatal error resets the device; never a panic', () => {
    assert.equal(kinds('os-first', 'kexec', 'fatal'), 'none');
    assert.equal(kinds('os-first', 'kdump', 'fatal', false), 'none');
    assert.equal(kinds('os-first', 'kdump', 'non-fatal'), 'logged');
    assert.equal(kinds('os-first', 'kdump', 'fatal'), 'device-reset');
  });

  it('firmware-first: correctable stays in firmware, recoverable forwarded, fatal escalates (before the kdump kernel too)', () => {
    assert.equal(kinds('firmware-first', 'kdump', 'correctable'), 'none');
    assert.equal(kinds('firmware-first', 'kdump', 'non-fatal'), 'logged');
    assert.equal(kinds('firmware-first', 'kexec', 'non-fatal'), 'none');
    const r = new PlatformRas('firmware-first');
    const a = r.handle(err('fatal'), { phase: 'kdump', aerServiceReady: true });
    assert.equal(a.kind, 'panic');
    assert.ok(a.kind === 'panic' && a.lines.at(-1) === GHES_PANIC);
    assert.equal(r.handle(err('fatal'), { phase: 'kexec', aerServiceReady: false }).kind, 'panic');
    assert.equal(r.escalations.length, 2);
  });

  it('firmware-first-no-os: after the panic every uncorrectable error escalates (M4, S10l)', () => {
    assert.equal(kinds('firmware-first-no-os', 'kdump', 'non-fatal'), 'panic');
    assert.equal(kinds('firmware-first-no-os', 'primary', 'non-fatal'), 'logged');
    assert.equal(kinds('firmware-first-no-os', 'kdump', 'correctable'), 'none');
  });

  it("cxl-offline: a CXL device's uncorrectable error offlines its memory once; touching it is an SError", () => {
    const r = new PlatformRas('cxl-offline', new Map([['0000:05:00.0', 'cxl-hdm']]));
    assert.equal(r.handle(err('non-fatal', '0000:05:00.0'), { phase: 'kdump', aerServiceReady: true }).kind, 'memory-offline');
    assert.equal(r.handle(err('non-fatal', '0000:05:00.0'), { phase: 'kdump', aerServiceReady: true }).kind, 'logged');
    assert.equal(r.touch('primary-ram'), undefined);
    assert.equal(r.touch('cxl-hdm')?.kind, 'panic');
    assert.deepEqual(r.counts, { correctable: 0, nonFatal: 2, fatal: 0 });
  });
});
