// SPDX-License-Identifier: Apache-2.0
// The in-process DMA port: a device's request goes to the SMMU twin it sits behind, which
// translates and performs it on platform memory (attributed to the device's StreamID), and the
// SMMU's answer becomes what the PCIe device sees: a completion status and, for the report, how
// the transaction was handled and whose STE decided it.

import type { DmaCompletion, DmaOutcome, DmaPort, DmaRequest } from '@kdump-twin/endpoint';
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

export class SmmuDmaPort implements DmaPort {
  constructor(readonly smmu: SmmuV3) {}

  access(req: DmaRequest): DmaCompletion {
    if (req.ats === 'request') {
      const t = this.smmu.translate({ sid: req.sid, ssid: req.ssid, address: req.address, size: req.size, write: req.write, ats: 'request' });
      const o = outcomeOf(t);
      const ok = t.outcome === 'translated' || t.outcome === 'bypassed';
      return { status: ok ? 'SC' : t.outcome === 'stalled' ? 'stalled' : 'UR', outcome: o, pa: t.pa, path: t.path, event: t.event, steEpoch: t.ste?.epoch, steWriter: t.ste?.writer };
    }
    const r = this.smmu.dma({ sid: req.sid, ssid: req.ssid, address: req.address, write: req.write, ats: req.ats, size: req.size }, req.write ? req.data : undefined);
    const t = r.translations[r.translations.length - 1]!;
    const first = r.translations[0]!;
    const origin = { steEpoch: first.ste?.epoch, steWriter: first.ste?.writer };
    if (r.completion === 'ok') return { status: 'SC', outcome: outcomeOf(t), pa: first.pa, path: t.path, event: t.event, data: r.data, ...origin };
    if (r.completion === 'completer-abort') return { status: 'CA', outcome: 'completer-abort', pa: r.faultAddress ?? -1, path: t.path, event: t.event, ...origin };
    if (r.completion === 'stalled') return { status: 'stalled', outcome: 'stalled', pa: -1, path: t.path, event: t.event, ...origin };
    return { status: 'UR', outcome: outcomeOf(t), pa: -1, path: t.path, event: t.event, ...origin };
  }
}
