// SPDX-License-Identifier: Apache-2.0
// Which DMA jobs are traced. A head sample at a ratio, decided from a hash of the job's key and
// the run's trace id (so every process decides the same), plus every job in flight across the primary kernel's panic, kept
// whatever the ratio. The ratio comes from the standard OTEL_TRACES_SAMPLER(_ARG); the crash rule
// from KDUMP_TWIN_TRACE_CRASH_JOBS.

import { TelemetryConfigError } from './errors';

export interface JobSampling {
  /** Fraction of jobs kept by the head sample (0..1). */
  readonly ratio: number;
  /** Keep every job in flight at the panic, whatever the ratio. */
  readonly keepCrash: boolean;
  /** At most this many links on one span (OTel's link limit); the rest are counted only. */
  readonly maxLinks: number;
}

/** The default head ratio when OTEL_TRACES_SAMPLER does not set one: a million-transaction run stays a few thousand spans. */
export const DEFAULT_JOB_RATIO = 0.001;

export function samplingFrom(env: Readonly<Record<string, string | undefined>>): JobSampling {
  const sampler = (env['OTEL_TRACES_SAMPLER'] ?? '').trim();
  const arg = env['OTEL_TRACES_SAMPLER_ARG'];
  let ratio = DEFAULT_JOB_RATIO;
  if (sampler === 'always_on' || sampler === 'parentbased_always_on') ratio = 1;
  else if (sampler === 'always_off' || sampler === 'parentbased_always_off') ratio = 0;
  else if (sampler === 'traceidratio' || sampler === 'parentbased_traceidratio') {
    const r = arg === undefined || arg.trim() === '' ? 1 : Number(arg);
    if (!Number.isFinite(r) || r < 0 || r > 1) throw new TelemetryConfigError(`OTEL_TRACES_SAMPLER_ARG=${arg}: a ratio from 0 to 1`);
    ratio = r;
  } else if (sampler !== '')
    throw new TelemetryConfigError(
      `OTEL_TRACES_SAMPLER=${sampler}: one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio`,
    );
  const crash = (env['KDUMP_TWIN_TRACE_CRASH_JOBS'] ?? 'keep').trim();
  if (crash !== 'keep' && crash !== 'ratio')
    throw new TelemetryConfigError(`KDUMP_TWIN_TRACE_CRASH_JOBS=${crash}: keep (every job in flight at the panic) or ratio (the head sample only)`);
  const links = Number(env['KDUMP_TWIN_TRACE_MAX_LINKS'] ?? 128);
  if (!Number.isInteger(links) || links < 0 || links > 10_000)
    throw new TelemetryConfigError(`KDUMP_TWIN_TRACE_MAX_LINKS=${env['KDUMP_TWIN_TRACE_MAX_LINKS']}: an integer from 0 to 10000`);
  return { ratio, keepCrash: crash === 'keep', maxLinks: links };
}

/** The head sample: a job's draw (ids.ts jobSample, uniform in [0, 1)) against the ratio. */
export function headSampled(draw: number, ratio: number): boolean {
  return ratio >= 1 || draw < ratio;
}

/** In flight at the panic: started at or before it and ended at or after it (or never ended). */
export function crossesCrash(start: number, end: number | undefined, panicAt: number | undefined): boolean {
  return panicAt !== undefined && start <= panicAt && (end === undefined || end >= panicAt);
}

/** Why a job is kept, or undefined when it is not. */
export function keepJob(s: JobSampling, draw: number, start: number, end: number | undefined, panicAt: number | undefined): 'crash' | 'ratio' | undefined {
  if (s.keepCrash && crossesCrash(start, end, panicAt)) return 'crash';
  return headSampled(draw, s.ratio) ? 'ratio' : undefined;
}
