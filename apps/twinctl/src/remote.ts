// SPDX-License-Identifier: Apache-2.0
// twinctl's client of the services: ScenarioService of smmu-twin, built from proto/ at run time
// (the address from --smmu-twin, else KDUMP_TWIN_SMMU_TWIN, else 127.0.0.1:50051).

import { join } from 'node:path';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ATTR, injectMetadata, SPAN, Telemetry } from '@kdump-twin/telemetry';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import type { Report } from '@kdump-twin/scenario';

export interface RemoteRun {
  readonly catalogueId?: string;
  readonly documentJson?: string;
  readonly policy?: string;
  readonly seed?: string;
  readonly sets: readonly string[];
  readonly predict: boolean;
}

/** A gRPC failure as twinctl reports it: the status name and the service's message. */
export class RemoteFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'RemoteFailure';
  }
}

type Stub = grpc.Client & {
  RunScenario(req: unknown, md: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: { reportJson: string }) => void): void;
};

export class ScenarioClient {
  private readonly stub: Stub;

  constructor(readonly address: string) {
    const dir = join(__dirname, '..', '..', '..', 'proto');
    const def = loadSync('twin/scenario/v1/scenario.proto', { includeDirs: [dir], longs: String, enums: String, defaults: true, oneofs: true });
    const pkg = grpc.loadPackageDefinition(def) as unknown as { twin: { scenario: { v1: { ScenarioService: grpc.ServiceClientConstructor } } } };
    this.stub = new pkg.twin.scenario.v1.ScenarioService(address, grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 256 << 20,
    }) as unknown as Stub;
  }

  run(r: RemoteRun): Promise<Report> {
    const scenario = {
      ...(r.catalogueId ? { catalogueId: r.catalogueId } : { documentJson: r.documentJson }),
      policy: r.policy ?? '',
      seed: r.seed ?? '',
      sets: [...r.sets],
    };
    // Traced (OTEL_* set): a client span, its context in the call's metadata (smmu-twin's run span hangs under it).
    const t = Telemetry.get();
    const span = t.enabled
      ? t.tracer.startSpan(SPAN.TWINCTL_RUN, {
          kind: SpanKind.CLIENT,
          attributes: { [ATTR.SCENARIO]: r.catalogueId ?? 'document', [ATTR.SEED]: r.seed ?? '', [ATTR.POLICY]: r.policy ?? '' },
        })
      : undefined;
    const md = span ? injectMetadata(new grpc.Metadata(), trace.setSpan(context.active(), span)) : new grpc.Metadata();
    return new Promise<Report>((resolve, reject) =>
      this.stub.RunScenario({ scenario, predict: r.predict }, md, { deadline: Date.now() + 3_600_000 }, (e, res) => {
        if (!e) return resolve(JSON.parse(res.reportJson) as Report);
        const why =
          e.code === grpc.status.UNAVAILABLE && /No connection|ECONNREFUSED|connect/i.test(e.details)
            ? `no smmu-twin answers at ${this.address} (npm run services starts the four services)`
            : e.details;
        span?.setStatus({ code: SpanStatusCode.ERROR, message: why });
        reject(new RemoteFailure(e.code, `${grpc.status[e.code] ?? e.code}: ${why}`));
      }),
    ).finally(() => span?.end());
  }

  close(): void {
    this.stub.close();
  }
}
