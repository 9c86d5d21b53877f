// SPDX-License-Identifier: Apache-2.0
// What the platform does with a PCIe error: the AER severity a device gives each failed
// completion is only half of it; the platform's RAS policy decides who sees the error and
// whether it ends the kdump kernel. The named policies follow the cover letter's case (a) and
// the review thread (kdump-adopt-series.md R1, R10 M1/M4, S10b, S10l): OS-first AER, firmware
// first with escalation of fatal errors, firmware first with no OS participant in the kdump
// window (kexec installs no firmware hand-off), and CXL-style memory offlining.

import type { AerError, AerSeverity } from './types';

export type RasPolicy = 'os-first' | 'firmware-first' | 'firmware-first-no-os' | 'cxl-offline';

export const RAS_POLICIES: readonly RasPolicy[] = ['os-first', 'firmware-first', 'firmware-first-no-os', 'cxl-offline'];

/** One line per policy, for catalogues and tables. */
export const RAS_POLICY_DOC: Record<RasPolicy, string> = {
  'os-first': "AER reaches the OS; once the kdump kernel's AER service runs it logs errors and resets a device on a fatal one; never panics",
  'firmware-first': 'firmware takes every error; recoverable ones are forwarded through GHES, fatal ones escalate to a fatal GHES error (panic)',
  'firmware-first-no-os': 'firmware first, and after the panic no OS is registered to receive errors: every uncorrectable error escalates (M4, S10l)',
  'cxl-offline': 'firmware first, and an uncorrectable error from a CXL device makes firmware offline its memory; the dump then touches it (Jason, M1)',
};

/** Where the machine is on the crash timeline. */
export type KernelPhase = 'primary' | 'kexec' | 'kdump';

export interface RasContext {
  readonly phase: KernelPhase;
  /** The kdump (or primary) kernel's AER service driver has probed (OS-first). */
  readonly aerServiceReady: boolean;
}

export type RasAction =
  | { readonly kind: 'none'; readonly why: string }
  | { readonly kind: 'logged'; readonly by: 'os' | 'firmware'; readonly lines: readonly string[] }
  | { readonly kind: 'device-reset'; readonly lines: readonly string[] }
  | { readonly kind: 'panic'; readonly lines: readonly string[]; readonly reason: string }
  | { readonly kind: 'memory-offline'; readonly region: string; readonly lines: readonly string[] };

const AER_SEVERITY_TEXT: Record<AerSeverity, string> = {
  correctable: 'Correctable',
  'non-fatal': 'Uncorrectable (Non-Fatal)',
  fatal: 'Uncorrectable (Fatal)',
};

/** Linux drivers/pci/pcie/aer.c: "AER: %s error message received from %s". */
export function aerMessage(e: Pick<AerError, 'severity' | 'bdf'>): string {
  return `AER: ${AER_SEVERITY_TEXT[e.severity]} error message received from ${e.bdf}`;
}

/** drivers/acpi/apei/ghes.c __ghes_panic. */
export const GHES_PANIC = 'Kernel panic - not syncing: GHES: Fatal hardware error!';
/** arch/arm64/kernel/traps.c arm64_serror_panic. */
export const SERROR_PANIC = 'Kernel panic - not syncing: Asynchronous SError Interrupt';

export interface RasCounts {
  correctable: number;
  nonFatal: number;
  fatal: number;
}

/** The platform's RAS engine: counts every error and applies the policy. */
export class PlatformRas {
  readonly counts: RasCounts = { correctable: 0, nonFatal: 0, fatal: 0 };
  /** Fatal escalations (SError / fatal GHES), in order. */
  readonly escalations: { time: number; device: string; reason: string }[] = [];
  /** Memory regions firmware offlined. */
  readonly offlined = new Set<string>();
  private ghesRecords = 0;

  constructor(
    readonly policy: RasPolicy,
    /** CXL devices and the memory region each one backs. */
    private readonly cxl: ReadonlyMap<string, string> = new Map(),
  ) {}

  handle(e: AerError, ctx: RasContext): RasAction {
    if (e.severity === 'correctable') this.counts.correctable++;
    else if (e.severity === 'non-fatal') this.counts.nonFatal++;
    else this.counts.fatal++;
    const crashed = ctx.phase !== 'primary';
    if (this.policy === 'os-first') return this.osFirst(e, ctx);
    if (e.severity === 'correctable') return { kind: 'none', why: 'corrected by firmware (CPER log only)' };
    const region = this.policy === 'cxl-offline' ? this.cxl.get(e.device) : undefined;
    if (region !== undefined && crashed && !this.offlined.has(region)) {
      this.offlined.add(region);
      return { kind: 'memory-offline', region, lines: [`[Hardware Error]: CXL device ${e.bdf} failed: firmware offlined memory ${region}`] };
    }
    const escalate = e.severity === 'fatal' || (this.policy === 'firmware-first-no-os' && crashed);
    if (escalate && crashed) {
      const reason =
        ctx.phase === 'kexec'
          ? `firmware escalated a ${e.severity} error from ${e.bdf} before the kdump kernel booted`
          : `firmware escalated a ${e.severity} error from ${e.bdf} to a fatal GHES error`;
      this.escalations.push({ time: e.time, device: e.device, reason });
      return { kind: 'panic', reason, lines: ctx.phase === 'kdump' ? this.ghes(e, 'fatal').concat(GHES_PANIC) : [] };
    }
    if (ctx.phase === 'kexec') return { kind: 'none', why: 'held by firmware: no OS running' };
    return { kind: 'logged', by: 'firmware', lines: this.ghes(e, 'recoverable') };
  }

  private osFirst(e: AerError, ctx: RasContext): RasAction {
    if (ctx.phase === 'kexec') return { kind: 'none', why: 'latched in the AER capability: no OS running' };
    if (!ctx.aerServiceReady) return { kind: 'none', why: 'latched in the AER capability: the AER service has not probed' };
    const line = aerMessage(e);
    if (e.severity === 'fatal') return { kind: 'device-reset', lines: [line, `AER: device recovery: secondary bus reset of ${e.bdf}`] };
    return { kind: 'logged', by: 'os', lines: [line] };
  }

  /** drivers/firmware/efi/cper.c record header as the OS prints a GHES record. */
  private ghes(e: AerError, severity: 'recoverable' | 'fatal'): string[] {
    const n = ++this.ghesRecords;
    return [
      `{${n}}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: 0`,
      `{${n}}[Hardware Error]: event severity: ${severity}`,
      `{${n}}[Hardware Error]:   section_type: PCIe error`,
      `{${n}}[Hardware Error]:   device_id: ${e.bdf}`,
    ];
  }

  /** A CPU access to memory firmware offlined: an SError (the vmcore save touching CXL memory). */
  touch(region: string): RasAction | undefined {
    if (!this.offlined.has(region)) return undefined;
    const reason = `the vmcore save read CXL memory ${region} that firmware offlined`;
    return { kind: 'panic', reason, lines: ['SError Interrupt on CPU0, code 0x00000000bf000000 -- SError', SERROR_PANIC] };
  }
}
