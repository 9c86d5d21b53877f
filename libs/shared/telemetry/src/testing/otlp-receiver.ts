// SPDX-License-Identifier: Apache-2.0
// A real OTLP receiver for tests, standing in for Jaeger's collector (neither Jaeger nor an
// OpenTelemetry Collector installs here): OTLP/HTTP on /v1/traces and /v1/metrics (http/json and
// http/protobuf bodies) and OTLP/gRPC (TraceService/Export, MetricsService/Export), on 127.0.0.1
// ports chosen at run time. Spans of every protocol decode to the same plain records.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';

export type AttrValue = string | number | boolean;

export interface ReceivedSpan {
  readonly service: string;
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
  readonly attributes: Readonly<Record<string, AttrValue>>;
  readonly links: readonly { readonly traceId: string; readonly spanId: string }[];
  /** How it arrived. */
  readonly via: 'http/json' | 'http/protobuf' | 'grpc';
}

export interface ReceivedMetric {
  readonly service: string;
  readonly name: string;
  readonly via: 'http/json' | 'http/protobuf' | 'grpc';
}

// ---- a minimal protobuf reader: enough of the wire format for OTLP's trace and metrics requests ----

type Field = { n: number; wire: number; v: bigint | Uint8Array };

function fields(buf: Uint8Array): Field[] {
  const out: Field[] = [];
  let i = 0;
  const varint = (): bigint => {
    let r = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new RangeError('protobuf: truncated varint');
      const b = buf[i++]!;
      r |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return r;
      shift += 7n;
    }
  };
  while (i < buf.length) {
    const key = Number(varint());
    const n = key >>> 3;
    const wire = key & 7;
    if (wire === 0) out.push({ n, wire, v: varint() });
    else if (wire === 1) {
      out.push({ n, wire, v: new DataView(buf.buffer, buf.byteOffset + i, 8).getBigUint64(0, true) });
      i += 8;
    } else if (wire === 2) {
      const len = Number(varint());
      if (i + len > buf.length) throw new RangeError('protobuf: truncated field');
      out.push({ n, wire, v: buf.subarray(i, i + len) });
      i += len;
    } else if (wire === 5) {
      out.push({ n, wire, v: BigInt(new DataView(buf.buffer, buf.byteOffset + i, 4).getUint32(0, true)) });
      i += 4;
    } else throw new RangeError(`protobuf: wire type ${wire}`);
  }
  return out;
}

const bytesOf = (f: Field[], n: number): Uint8Array[] => f.filter((x) => x.n === n && x.v instanceof Uint8Array).map((x) => x.v as Uint8Array);
const str = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('utf8') : '');
const hexOf = (b: Uint8Array | undefined): string => (b ? Buffer.from(b).toString('hex') : '');
const num = (f: Field[], n: number): bigint => (f.find((x) => x.n === n && typeof x.v === 'bigint')?.v as bigint | undefined) ?? 0n;

function anyValue(b: Uint8Array): AttrValue {
  const f = fields(b)[0];
  if (!f) return '';
  if (f.n === 1) return str(f.v as Uint8Array);
  if (f.n === 2) return (f.v as bigint) !== 0n;
  if (f.n === 3) return Number(BigInt.asIntN(64, f.v as bigint));
  if (f.n === 4) return new DataView(new BigUint64Array([f.v as bigint]).buffer).getFloat64(0, true);
  return '';
}

function keyValues(list: Uint8Array[]): Record<string, AttrValue> {
  const out: Record<string, AttrValue> = {};
  for (const kv of list) {
    const f = fields(kv);
    const v = bytesOf(f, 2)[0];
    out[str(bytesOf(f, 1)[0])] = v ? anyValue(v) : '';
  }
  return out;
}

/**
 * The items of an Export*ServiceRequest with their resource's service.name: both the trace and the
 * metrics request nest resource (1) and scope groups (2) the same way, and a scope group's items
 * (spans, metrics) are its field 2.
 */
function items(body: Uint8Array): { service: string; item: Uint8Array }[] {
  const out: { service: string; item: Uint8Array }[] = [];
  for (const group of bytesOf(fields(body), 1)) {
    const gf = fields(group);
    const res = bytesOf(gf, 1)[0];
    const service = String(res ? (keyValues(bytesOf(fields(res), 1))['service.name'] ?? '') : '');
    for (const scope of bytesOf(gf, 2)) for (const item of bytesOf(fields(scope), 2)) out.push({ service, item });
  }
  return out;
}

/** ExportTraceServiceRequest (opentelemetry/proto/collector/trace/v1) to spans. */
export function decodeTraceRequest(body: Uint8Array, via: ReceivedSpan['via']): ReceivedSpan[] {
  return items(body).map(({ service, item }) => {
    const f = fields(item);
    return {
      service,
      name: str(bytesOf(f, 5)[0]),
      traceId: hexOf(bytesOf(f, 1)[0]),
      spanId: hexOf(bytesOf(f, 2)[0]),
      parentSpanId: hexOf(bytesOf(f, 4)[0]),
      kind: Number(num(f, 6)),
      startNs: num(f, 7),
      endNs: num(f, 8),
      attributes: keyValues(bytesOf(f, 9)),
      links: bytesOf(f, 13).map((l) => {
        const lf = fields(l);
        return { traceId: hexOf(bytesOf(lf, 1)[0]), spanId: hexOf(bytesOf(lf, 2)[0]) };
      }),
      via,
    };
  });
}

/** ExportMetricsServiceRequest to metric names. */
export function decodeMetricsRequest(body: Uint8Array, via: ReceivedMetric['via']): ReceivedMetric[] {
  return items(body).map(({ service, item }) => ({ service, name: str(bytesOf(fields(item), 1)[0]), via }));
}

// ---- OTLP/JSON ----

type JsonAny = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };
type JsonKv = { key: string; value?: JsonAny };
const jsonAttrs = (l: readonly JsonKv[] | undefined): Record<string, AttrValue> =>
  Object.fromEntries(
    (l ?? []).map((kv) => [
      kv.key,
      kv.value?.stringValue ?? (kv.value?.intValue !== undefined ? Number(kv.value.intValue) : (kv.value?.boolValue ?? kv.value?.doubleValue ?? '')),
    ]),
  );

function decodeJsonTraces(text: string): ReceivedSpan[] {
  const doc = JSON.parse(text) as { resourceSpans?: { resource?: { attributes?: JsonKv[] }; scopeSpans?: { spans?: Record<string, unknown>[] }[] }[] };
  const out: ReceivedSpan[] = [];
  for (const rs of doc.resourceSpans ?? []) {
    const service = String(jsonAttrs(rs.resource?.attributes)['service.name'] ?? '');
    for (const ss of rs.scopeSpans ?? [])
      for (const s of ss.spans ?? [])
        out.push({
          service,
          name: String(s['name']),
          traceId: String(s['traceId']),
          spanId: String(s['spanId']),
          parentSpanId: String(s['parentSpanId'] ?? ''),
          kind: Number(s['kind'] ?? 0),
          startNs: BigInt(String(s['startTimeUnixNano'] ?? '0')),
          endNs: BigInt(String(s['endTimeUnixNano'] ?? '0')),
          attributes: jsonAttrs(s['attributes'] as JsonKv[] | undefined),
          links: ((s['links'] as { traceId: string; spanId: string }[] | undefined) ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
          via: 'http/json',
        });
  }
  return out;
}

function decodeJsonMetrics(text: string): ReceivedMetric[] {
  const doc = JSON.parse(text) as { resourceMetrics?: { resource?: { attributes?: JsonKv[] }; scopeMetrics?: { metrics?: { name: string }[] }[] }[] };
  const out: ReceivedMetric[] = [];
  for (const rm of doc.resourceMetrics ?? []) {
    const service = String(jsonAttrs(rm.resource?.attributes)['service.name'] ?? '');
    for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) out.push({ service, name: m.name, via: 'http/json' });
  }
  return out;
}

export interface OtlpReceiver {
  /** http://127.0.0.1:<port>: OTEL_EXPORTER_OTLP_ENDPOINT for http/json and http/protobuf. */
  readonly httpEndpoint: string;
  /** http://127.0.0.1:<port>: OTEL_EXPORTER_OTLP_ENDPOINT for grpc. */
  readonly grpcEndpoint: string;
  readonly spans: ReceivedSpan[];
  readonly metrics: ReceivedMetric[];
  /** Requests it could not decode, with why (a test asserts there are none). */
  readonly errors: string[];
  /** Resolves once `pred` holds for what arrived (polls; rejects after `timeoutMs`). */
  until(pred: () => boolean, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * OTEL_* settings that send a process's traces to `r` over OTLP/HTTP json at a job sample of
 * `ratio`, exported every 200 ms from a queue large enough that no span is dropped (what the
 * end-to-end trace tests need); `extra` adds or overrides settings.
 */
export function otlpHttpJsonEnv(r: OtlpReceiver, ratio: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: r.httpEndpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_TRACES_SAMPLER: 'traceidratio',
    OTEL_TRACES_SAMPLER_ARG: ratio,
    OTEL_BSP_SCHEDULE_DELAY: '200',
    OTEL_BSP_MAX_QUEUE_SIZE: '65536',
    ...extra,
  };
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const metrics: ReceivedMetric[] = [];
  const errors: string[] = [];
  const http: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const type = String(req.headers['content-type'] ?? '');
      const json = type.includes('json');
      try {
        if (req.url === '/v1/traces') spans.push(...(json ? decodeJsonTraces(body.toString('utf8')) : decodeTraceRequest(body, 'http/protobuf')));
        else if (req.url === '/v1/metrics') metrics.push(...(json ? decodeJsonMetrics(body.toString('utf8')) : decodeMetricsRequest(body, 'http/protobuf')));
        else {
          res.writeHead(404).end();
          return;
        }
      } catch (e) {
        errors.push(`${req.url} ${type}: ${(e as Error).message}`);
        res.writeHead(400).end();
        return;
      }
      // An empty ExportTraceServiceResponse: {} in JSON, no bytes in protobuf.
      res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' }).end(json ? '{}' : undefined);
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const server = new grpc.Server();
  const id = (b: Buffer) => b;
  const unary = (decode: (b: Buffer) => void) => (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
    try {
      decode(call.request);
      cb(null, Buffer.alloc(0));
    } catch (e) {
      errors.push(`grpc: ${(e as Error).message}`);
      cb({ code: grpc.status.INVALID_ARGUMENT, details: (e as Error).message });
    }
  };
  server.register(
    '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
    unary((b) => spans.push(...decodeTraceRequest(b, 'grpc'))),
    id,
    id,
    'unary',
  );
  server.register(
    '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
    unary((b) => metrics.push(...decodeMetricsRequest(b, 'grpc'))),
    id,
    id,
    'unary',
  );
  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return {
    httpEndpoint: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
    grpcEndpoint: `http://127.0.0.1:${grpcPort}`,
    spans,
    metrics,
    errors,
    async until(pred, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > deadline)
          throw new Error(`otlp receiver: condition not met in ${timeoutMs} ms (${spans.length} spans, ${metrics.length} metrics received)`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async stop() {
      await new Promise<void>((r) => http.close(() => r()));
      await new Promise<void>((r) => server.tryShutdown(() => r()));
    },
  };
}
