// SPDX-License-Identifier: Apache-2.0
// Context across the wire: W3C traceparent/tracestate and baggage in NATS message headers (the
// transport's RpcTrace hook) and in gRPC metadata.

import { context, propagation, ROOT_CONTEXT, type Context } from '@opentelemetry/api';
import type { Metadata } from '@grpc/grpc-js';
import type { RpcTrace } from '@kdump-twin/transport';

/** What the transport's Rpc calls for every message it sends and every handler it runs. */
export const natsTrace: RpcTrace = {
  inject(): Record<string, string> | undefined {
    const carrier: Record<string, string> = {};
    propagation.inject(context.active(), carrier);
    return Object.keys(carrier).length ? carrier : undefined;
  },
  extract<T>(get: (key: string) => string | undefined, fn: () => T): T {
    const ctx = propagation.extract(ROOT_CONTEXT, undefined, { keys: () => ['traceparent', 'tracestate', 'baggage'], get: (_c, k) => get(k) });
    return context.with(ctx, fn);
  },
};

/** Adds the active context to gRPC metadata (a client's call). */
export function injectMetadata(md: Metadata, ctx: Context = context.active()): Metadata {
  propagation.inject(ctx, md, { set: (m, k, v) => m.set(k, v) });
  return md;
}

/** The context a gRPC call's metadata carries (a server's handler). */
export function extractMetadata(md: Metadata | undefined): Context {
  if (!md) return context.active();
  return propagation.extract(context.active(), md, {
    keys: (m) => Object.keys(m.getMap()),
    get: (m, k) => {
      const v = m.get(k);
      return v.length ? v.map(String) : undefined;
    },
  });
}
