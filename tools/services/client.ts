// SPDX-License-Identifier: Apache-2.0
// A generic gRPC client built only from proto/ (as a script in any language would build one):
// proto-loader reads the .proto files, grpc-js makes the stubs; unary calls return promises,
// server-streaming calls return the stream. Also a server-reflection client.

import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';

const PROTO = join(__dirname, '..', '..', 'proto');

export type Unary = (req: Record<string, unknown>, deadlineMs?: number) => Promise<Record<string, any>>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface GenericClient {
  readonly call: Record<string, Unary>;
  stream(method: string, req: Record<string, unknown>): grpc.ClientReadableStream<Record<string, unknown>>;
  close(): void;
}

/** A client of `service` (e.g. "twin.smmu.v1.SmmuTwinService") defined in `file` under proto/. */
export function clientFor(address: string, file: string, service: string): GenericClient {
  const def = loadSync(file, { includeDirs: [PROTO], longs: String, enums: String, defaults: true, oneofs: true });
  let ctor: unknown = grpc.loadPackageDefinition(def);
  for (const part of service.split('.')) ctor = (ctor as Record<string, unknown>)[part];
  const C = ctor as grpc.ServiceClientConstructor;
  const c = new C(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 64 << 20 });
  const call: Record<string, Unary> = {};
  for (const [name, m] of Object.entries(C.service)) {
    if (m.responseStream) continue;
    call[name] = (req, deadlineMs = 600_000) =>
      new Promise((resolve, reject) => {
        (
          c as unknown as Record<
            string,
            (r: unknown, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Record<string, unknown>) => void) => void
          >
        )[name]!(req, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (e, r) => (e ? reject(e) : resolve(r)));
      });
  }
  return {
    call,
    stream: (method, req) => (c as unknown as Record<string, (r: unknown) => grpc.ClientReadableStream<Record<string, unknown>>>)[method]!(req),
    close: () => c.close(),
  };
}

/** The services a server lists through grpc.reflection.v1 (ServerReflectionInfo, list_services). */
export function reflectServices(address: string): Promise<string[]> {
  const file = join(__dirname, '..', '..', 'node_modules', '@grpc', 'reflection', 'build', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto');
  const def = loadSync(file, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1: { ServerReflection: grpc.ServiceClientConstructor } } } };
  const c = new pkg.grpc.reflection.v1.ServerReflection(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    const s = (
      c as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, { list_services_response?: { service: { name: string }[] } }> }
    ).ServerReflectionInfo();
    s.on('data', (r) => {
      resolve((r.list_services_response?.service ?? []).map((x: { name: string }) => x.name));
      s.end();
      c.close();
    });
    s.on('error', (e) => {
      c.close();
      reject(e);
    });
    s.write({ list_services: '' });
  });
}
