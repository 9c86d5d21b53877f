// SPDX-License-Identifier: Apache-2.0
// Trace and span ids. A DMA job's spans are made by two processes (the fleet issues its
// transactions, the platform translates them), so the job's trace id and the ids of the spans
// others hang under are derived from the run's trace id and the job's key: every process that
// saw the run's context (it crossed NATS in the headers) names the same parent without a byte
// more on the DMA path. Everything else gets random ids.

import { createHash, randomBytes } from 'node:crypto';
import type { IdGenerator } from '@opentelemetry/sdk-trace-base';

/** 2n hex digits derived from the parts. */
export function derive(hexDigits: 16 | 32, ...parts: readonly (string | number)[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, hexDigits);
  // All-zero ids are invalid (W3C trace-context).
  return /^0+$/.test(h) ? `${h.slice(0, -1)}1` : h;
}

/** A DMA job's key: device, generation (FLRs), job number. */
export function jobKey(device: string, generation: number, job: number): string {
  return `${device}/${generation}/${job}`;
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
