// SPDX-License-Identifier: Apache-2.0
// The devices of a scenario as every role derives them from the spec: PCI name to requester ID,
// the StreamIDs the IORT maps it to, the endpoint configuration and the traffic parameters.

import { GPU_DEFAULTS, NIC_DEFAULTS, NVME_DEFAULTS, READ_ERROR_DEFAULT, type DeviceParams, type EndpointConfig } from '@kdump-twin/endpoint';
import { SchemaError } from './schema';
import type { DeviceSpec, ScenarioSpec } from './spec';

export interface DeviceInfo {
  readonly spec: DeviceSpec;
  readonly name: string;
  readonly rid: number;
  readonly sids: readonly number[];
  readonly smmu: number;
  readonly base: EndpointConfig;
  readonly params: DeviceParams;
}

/** The requester ID of a PCI device name "DDDD:BB:dd.f". */
export function ridOf(bdf: string): number {
  const m = /^[0-9a-f]{4}:([0-9a-f]{2}):([0-9a-f]{2})\.([0-7])$/.exec(bdf);
  if (!m) throw new SchemaError('device', [{ path: 'name', rule: `not a PCI device name: ${bdf}` }]);
  return (parseInt(m[1]!, 16) << 8) | (parseInt(m[2]!, 16) << 3) | parseInt(m[3]!, 10);
}

function paramsOf(d: DeviceSpec): DeviceParams {
  if (d.kind === 'nic') return { kind: 'nic', ...NIC_DEFAULTS, ...d.traffic };
  if (d.kind === 'nvme') return { kind: 'nvme', ...NVME_DEFAULTS, ...d.traffic };
  return { kind: 'gpu', ...GPU_DEFAULTS, ...d.traffic, ...(d.cxlMemory ? { cxlMemory: d.cxlMemory } : {}) };
}

/** Every device of the scenario, in PCI name order (the order every role walks them in). */
export function deviceTable(spec: ScenarioSpec): DeviceInfo[] {
  return [...spec.devices]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((d) => {
      const rid = ridOf(d.name);
      const sids = d.sids ?? [rid + spec.platform.smmus[d.smmu]!.sidBase];
      const base: EndpointConfig = {
        name: d.name,
        rid,
        sids,
        ats: d.ats,
        atcEntries: d.atcEntries,
        aer: d.aer,
        readLatencyNs: d.readLatencyNs,
        maxReadTags: d.maxReadTags,
        onReadError: d.onReadError ?? READ_ERROR_DEFAULT[d.kind],
      };
      return { spec: d, name: d.name, rid, sids, smmu: d.smmu, base, params: paramsOf(d) };
    });
}
