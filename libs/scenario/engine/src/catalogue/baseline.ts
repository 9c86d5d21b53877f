// SPDX-License-Identifier: Apache-2.0
// `baseline`: a healthy arm64 server whose primary kernel panics while every device is in the
// middle of DMA. The memory map is the default one: DRAM at 2 GiB with a 512 MiB crashkernel
// carve-out reserved at its top, just below 4 GiB, where the DMA API hands out its first IOVAs
// (top-down below 4 GiB), so an IOVA used as a PA lands in live memory: the carve-out.

const US = 1_000;
const MS = 1_000_000;

/** The baseline scenario document (scenario-file form, before validation). */
export function baselineDocument(): Record<string, unknown> {
  return {
    id: 'baseline',
    version: 1,
    title: 'healthy server, primary kernel panics while every device is mid-DMA',
    source: 'kdump-adopt-series.md section 1 (cover letter cases (a) and (b))',
    outcome:
      'adopt: nothing aborted or bypassed before each driver quiesces its device, no corruption, the vmcore is saved; status quo: the GBPA-abort window and the fresh tables abort in-flight DMA, a fatal AER escalates (firmware first) and the kdump kernel panics; GBPA bypass: in-flight DMA lands on PA = IOVA, inside the carve-out',
    seed: 1,
    platform: {
      ras: 'firmware-first',
      smmus: [{ config: {}, firmware: {} }],
    },
    devices: [
      // Two ports of one NIC: the first carries the network dump (a kdump driver), the second has none.
      { kind: 'nic', name: '0000:01:00.0', kdumpDriver: { present: true, role: 'network', probeAtNs: 3 * MS }, traffic: { rxIntervalNs: 4 * US } },
      { kind: 'nic', name: '0000:01:00.1', kdumpDriver: { present: false }, traffic: { rxIntervalNs: 4 * US } },
      // The dump target: a deep queue of slow I/O still in flight across the panic.
      {
        kind: 'nvme',
        name: '0000:02:00.0',
        kdumpDriver: { present: true, role: 'dump-target', probeAtNs: 2 * MS },
        traffic: { mediaLatencyNs: 200 * US, outstanding: 128 },
      },
      // An ATS accelerator streaming a long copy; no driver in the kdump kernel. Its ATC holds the
      // whole working set, and any failed request is fatal for it (a CXL.io-style device).
      { kind: 'gpu', name: '0000:03:00.0', ats: true, atcEntries: 1_024, aer: { UR: 'fatal', CA: 'fatal', ATS: 'fatal' }, kdumpDriver: { present: false } },
    ],
    // The panic comes once the accelerator's first copy pass has warmed its ATC.
    crash: { trigger: { kind: 'time', atNs: 600 * US }, kexecDelayNs: 500 * US, smmuProbeDelayNs: 100 * US },
    kdump: { policy: 'adopt-v7', aerServiceAtNs: 300 * US },
    run: { endAfterKdumpNs: 20 * MS, vmcore: { save: true, maxPages: 4_096 } },
  };
}
