// SPDX-License-Identifier: Apache-2.0
// Which calls of the platform into a kernel get a span, and its name (both ends use it).

import type { KernelLink } from '@kdump-twin/scenario';
import { SPAN, type SpanName } from './registry.generated';

/** Kernel calls that get a span (serviceIrqs runs every 50 us of virtual time, halt and view are bookkeeping). */
const CALL_SPANS: Readonly<Partial<Record<keyof KernelLink, SpanName>>> = {
  boot: SPAN.KERNEL_BOOT,
  setupDrivers: SPAN.KERNEL_SETUP_DRIVERS,
  reattach: SPAN.KERNEL_REATTACH,
  unmap: SPAN.KERNEL_UNMAP,
  probeSmmus: SPAN.KERNEL_PROBE_SMMUS,
  probeDevices: SPAN.KERNEL_PROBE_DEVICES,
  probeDriver: SPAN.KERNEL_PROBE_DRIVER,
  saveVmcore: SPAN.KERNEL_SAVE_VMCORE,
  unbind: SPAN.KERNEL_UNBIND,
};

/** The span name of a kernel call, if it gets one. */
export function callSpan(call: string): SpanName | undefined {
  return CALL_SPANS[call as keyof KernelLink];
}
