// SPDX-License-Identifier: Apache-2.0
// What a run across the services spends its NATS round trips on, counted where they start: the
// platform's answers to the kernels' sync ops, its calls into the kernels, its fleet slices (by
// what ended each). smmu-twin logs the counts with every finished run ("run done"); the
// services-wall bench reads them from there.
import type { FleetSliceIn, FleetSliceOut } from '@kdump-twin/endpoint';
import type { PlatformToKernel, SyncOp } from './protocol';

/** Round trips of one run by cause. */
export interface RoundTrips {
  /** Kernel -> platform, by sync op: loads, MMIO accesses, sleeps (a thread's timer), poll wake-ups (a sleep that names its next load), the dump's page list. */
  loads: number;
  mmio: number;
  sleeps: number;
  polls: number;
  dumpList: number;
  /** Platform -> kernel: the runner's 50 us serviceIrqs tick, and every other call (boot, probes, views, halt...). */
  ticks: number;
  calls: number;
  /**
   * Platform -> fleet slices, by what ended them: a read of its own the fleet could not answer
   * (its completion was needed), the horizon (someone else's task, timer or tick), an AER error,
   * a single instant (nothing else pending); and the other fleet calls (init, view, close...).
   */
  slicesRead: number;
  slicesHorizon: number;
  slicesAer: number;
  slicesInstant: number;
  fleetCalls: number;
}

export class RoundTripCount {
  readonly c: RoundTrips = {
    loads: 0,
    mmio: 0,
    sleeps: 0,
    polls: 0,
    dumpList: 0,
    ticks: 0,
    calls: 0,
    slicesRead: 0,
    slicesHorizon: 0,
    slicesAer: 0,
    slicesInstant: 0,
    fleetCalls: 0,
  };

  op(op: SyncOp): void {
    if (op.o === 'memRead') this.c.loads++;
    else if (op.o === 'mmioRead' || op.o === 'mmioWrite') this.c.mmio++;
    else if (op.o === 'sleep') {
      if (op.next) this.c.polls++;
      else this.c.sleeps++;
    } else if (op.o === 'crashedPages') this.c.dumpList++;
  }

  call(call: PlatformToKernel['call']): void {
    if (call === 'serviceIrqs') this.c.ticks++;
    else this.c.calls++;
  }

  slice(input: FleetSliceIn, out: FleetSliceOut): void {
    let due = Infinity;
    for (const q of out.requests) if (q.latencyNs > 0 && !q.dmi) due = Math.min(due, q.time + q.latencyNs);
    if (input.until === undefined) this.c.slicesInstant++;
    else if (out.aer.length > 0) this.c.slicesAer++;
    else if (due < input.until && (out.next === undefined || out.next >= due)) this.c.slicesRead++;
    else this.c.slicesHorizon++;
  }

  fleetCall(): void {
    this.c.fleetCalls++;
  }
}
