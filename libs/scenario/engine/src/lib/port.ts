// SPDX-License-Identifier: Apache-2.0
// How the platform applies one device request: the SMMU twin the device sits behind translates
// and performs it on platform memory (attributed to the device's StreamID), and its answer
// becomes what the PCIe device sees: a completion status and, for the report, how the
// transaction was handled and whose STE decided it.

import type { DmaCompletion, DmaOutcome, DmaRequest } from '@kdump-twin/endpoint';
import type { SmmuV3, TranslateResult } from '@kdump-twin/smmu-model';

const BYPASS_PATHS = new Set(['gbpa', 'ste-bypass', 's1-bypass']);

function outcomeOf(t: TranslateResult): DmaOutcome {
  switch (t.outcome) {
    case 'translated':
      return 'translated';
    case 'bypassed':
      // An ATS-translated access let through carries a PA the device's ATC got from the SMMU.
      return BYPASS_PATHS.has(t.path) ? 'bypassed' : 'translated';
    case 'raz-wi':
      return 'raz-wi';
    case 'stalled':
      return 'stalled';
    case 'aborted':
      return t.event !== undefined ? 'faulted' : 'aborted';
  }
}

export function applyDma(smmu: SmmuV3, req: DmaRequest): DmaCompletion {
  if (req.ats === 'request') {
    const t = smmu.translate({ sid: req.sid, ssid: req.ssid, address: req.address, size: req.size, write: req.write, ats: 'request' });
    const origin = { steEpoch: t.ste?.epoch, steWriter: t.ste?.writer };
    // A translation completion without the permission the access needs is, for the twin's
    // devices, a failed translation (they never fall back to an untranslated request).
    const a = t.ats;
    const granted = a ? a.status === 'SC' && (req.write ? a.w : a.r) : t.outcome === 'translated' || t.outcome === 'bypassed';
    if (granted) return { status: 'SC', outcome: outcomeOf(t), pa: t.pa, path: t.path, event: t.event, ...origin };
    return {
      status: a?.status === 'CA' ? 'CA' : 'UR',
      outcome: t.event !== undefined ? 'faulted' : 'aborted',
      pa: -1,
      path: t.path,
      event: t.event,
      ...origin,
    };
  }
  const r = smmu.dma({ sid: req.sid, ssid: req.ssid, address: req.address, write: req.write, ats: req.ats, size: req.size }, req.write ? req.data : undefined);
  const t = r.translations[r.translations.length - 1]!;
  const first = r.translations[0]!;
  // The common case field by field (no spread: this runs for every DMA request).
  if (r.completion === 'ok')
    return {
      status: 'SC',
      outcome: outcomeOf(t),
      pa: first.pa,
      path: t.path,
      event: t.event,
      data: r.data,
      steEpoch: first.ste?.epoch,
      steWriter: first.ste?.writer,
    };
  const origin = { steEpoch: first.ste?.epoch, steWriter: first.ste?.writer };
  if (r.completion === 'completer-abort')
    return { status: 'CA', outcome: 'completer-abort', pa: r.faultAddress ?? -1, path: t.path, event: t.event, ...origin };
  if (r.completion === 'stalled') return { status: 'stalled', outcome: 'stalled', pa: -1, path: t.path, event: t.event, ...origin };
  return { status: 'UR', outcome: outcomeOf(t), pa: -1, path: t.path, event: t.event, ...origin };
}
