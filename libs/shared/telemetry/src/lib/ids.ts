// SPDX-License-Identifier: Apache-2.0
// Trace and span ids. A DMA job's spans are made by two processes (the fleet issues its
// transactions, the platform translates them), so the job's trace id and the ids of the spans
// others hang under are derived from the run's trace id and the job's key: every process that
// saw the run's context (it crossed NATS in the headers) names the same parent without a byte
// more on the DMA path. Everything else gets random ids.

import { randomBytes } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace-base';

/** murmur3's 32-bit finaliser: every input bit affects every output bit. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * `hexDigits` hex digits derived from the parts: 32-bit lanes of a multiplicative string hash,
 * each seeded differently and finalised. Not cryptographic (nothing here is secret), uniform
 * enough for the head sample, and cheap: it runs once per DMA job (a sha256 cost a third of
 * tracing's time in process).
 */
export function derive(hexDigits: 16 | 32, ...parts: readonly (string | number)[]): string {
  const text = parts.join('\u0000');
  let out = '';
  for (let lane = 0; lane < hexDigits / 8; lane++) {
    let h = Math.imul(0x9e3779b1, lane + 1) >>> 0;
    for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    out += fmix(h ^ text.length)
      .toString(16)
      .padStart(8, '0');
  }
  // All-zero ids are invalid (W3C trace-context).
  return /^0+$/.test(out) ? `${out.slice(0, -1)}1` : out;
}

/** A DMA job's key: device, generation (FLRs), job number. */
export function jobKey(device: string, generation: number, job: number): string {
  return `${device}/${generation}/${job}`;
}

/**
 * A job's head-sample draw in [0, 1): a 32-bit hash of the job's key seeded by the run's trace
 * id, the same in every process. Cheap (no string is built), so every job gets one and only the
 * kept ones pay for their trace id.
 */
export function jobSample(runTraceId: string, device: string, generation: number, job: number): number {
  let h = Number.parseInt(runTraceId.slice(0, 8), 16) ^ 0x9e3779b9;
  for (let i = 0; i < device.length; i++) h = Math.imul(h ^ device.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ (generation >>> 0), 0x01000193);
  h = Math.imul(h ^ (job >>> 0), 0x01000193);
  h = Math.imul(h ^ Math.floor(job / 2 ** 32), 0x01000193);
  return fmix(h ^ Number.parseInt(runTraceId.slice(8, 16), 16)) / 2 ** 32;
}

/** The trace id of a job's trace, from the run's trace id. */
export function jobTraceId(runTraceId: string, key: string): string {
  return derive(32, runTraceId, 'job', key);
}

/** The id of the job's root span. */
export function jobSpanId(traceId: string): string {
  return derive(16, traceId, 'job-span');
}

/** The id of the span of the transaction the fleet numbered `ticket`. */
export function transactionSpanId(traceId: string, ticket: number): string {
  return derive(16, traceId, 'tx', ticket);
}

/** Random ids, except for the next span started after `prime` (the tracer asks synchronously). */
export class PrimedIdGenerator implements IdGenerator {
  private next: { traceId?: string; spanId?: string } | undefined;

  prime(ids: { traceId?: string; spanId?: string }): void {
    this.next = ids;
  }

  generateTraceId(): string {
    const t = this.next?.traceId;
    if (this.next) delete this.next.traceId;
    return t ?? randomBytes(16).toString('hex');
  }

  generateSpanId(): string {
    const s = this.next?.spanId;
    if (this.next) delete this.next.spanId;
    if (this.next && this.next.traceId === undefined) this.next = undefined;
    return s ?? randomBytes(8).toString('hex');
  }
}
