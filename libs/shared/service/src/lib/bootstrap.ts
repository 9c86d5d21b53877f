// SPDX-License-Identifier: Apache-2.0
// How each of the four services starts and stops: its configuration (env), its NATS connection
// (reconnects reported to the service, never absorbed), a NestJS gRPC microservice over the
// proto/ packages it serves, grpc.health.v1 and server reflection next to them, the error
// filter, and a graceful SIGTERM: NOT_SERVING, close the server, drain NATS, exit 0.

import 'reflect-metadata';
import { natsTrace, Telemetry, TelemetryConfigError } from '@kdump-twin/telemetry';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Server } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import type { DynamicModule } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Transport, type MicroserviceOptions } from '@nestjs/microservices';
import { HealthImplementation, protoPath as healthProto } from 'grpc-health-check';
import { connect, type NatsConnection } from 'nats';
import { NatsAuthError, natsAuth, Rpc } from '@kdump-twin/transport';
import { commonVars, ConfigError, loadConfig, type ConfigOf, type VarSpec } from './config';
import { GrpcErrorFilter } from './errors';
import { JsonLogger } from './logger';

/** The proto/ directory of the repository (PROTO_DIR overrides, e.g. in a container image). */
export function protoDir(): string {
  const fromEnv = process.env['PROTO_DIR'];
  if (fromEnv) return resolve(fromEnv);
  let d = __dirname;
  for (let i = 0; i < 8; i++, d = join(d, '..')) if (existsSync(join(d, 'proto', 'buf.yaml'))) return join(d, 'proto');
  throw new ConfigError(['PROTO_DIR: the proto/ directory was not found above this service; set PROTO_DIR']);
}

/** Loader options matching the generated ts-proto types (camelCase, 64-bit as strings, enums as numbers, oneof names). */
export const LOADER = { keepCase: false, longs: String, enums: Number, defaults: true, oneofs: true } as const;

export interface ServiceDefinition<V extends Record<string, VarSpec<unknown>>> {
  /** smmu-twin, dma-fleet, crash-generator or kdump-driver. */
  readonly name: string;
  readonly defaultPort: number;
  /** Proto packages served, and their files under proto/. */
  readonly packages: readonly string[];
  readonly protos: readonly string[];
  /** Fully-qualified gRPC service names (health reports each). */
  readonly services: readonly string[];
  /** The service's own variables, next to the common ones. */
  readonly vars?: V;
  readonly module: (ctx: ServiceContext<V>) => DynamicModule;
  /** Runs once NATS is up, before gRPC serves (the NATS-side engines start here). */
  readonly onStart?: (ctx: ServiceContext<V>) => void | Promise<void>;
  /** Runs at shutdown before the server closes. */
  readonly onStop?: (ctx: ServiceContext<V>) => void | Promise<void>;
}

export interface ServiceContext<V extends Record<string, VarSpec<unknown>> = Record<string, never>> {
  readonly name: string;
  readonly replica: string;
  readonly config: ConfigOf<ReturnType<typeof commonVars>> & ConfigOf<V>;
  readonly log: JsonLogger;
  readonly nc: NatsConnection;
  readonly rpc: Rpc;
  /** This process's tracing and metrics (enabled by OTEL_* variables; `enabled` false otherwise). */
  readonly telemetry: Telemetry;
  /** Called when NATS dropped and reconnected: work in flight across it cannot be trusted. */
  onReconnect(fn: (why: string) => void): void;
}

export interface RunningService {
  readonly address: string;
  readonly health: HealthImplementation;
  stop(): Promise<void>;
}

/** Starts a service; resolves once gRPC serves. A bad configuration rejects with ConfigError. */
export async function startService<V extends Record<string, VarSpec<unknown>>>(
  def: ServiceDefinition<V>,
  env: Record<string, string | undefined> = process.env,
): Promise<RunningService> {
  const spec = { ...commonVars(def.defaultPort), ...(def.vars ?? {}) } as ReturnType<typeof commonVars> & V;
  const config = loadConfig(spec, env) as ServiceContext<V>['config'];
  const replica = config.SERVICE_ID || `${def.name}-${process.pid}`;
  const log = new JsonLogger(def.name, replica, config.LOG_LEVEL);
  let telemetry: Telemetry;
  try {
    telemetry = Telemetry.start(def.name, env);
  } catch (e) {
    if (e instanceof TelemetryConfigError) throw new ConfigError([e.message]);
    throw e;
  }
  if (telemetry.enabled)
    log.info('tracing on', {
      protocol: telemetry.protocol ?? 'none',
      jobRatio: telemetry.sampling.ratio,
      crashJobs: telemetry.sampling.keepCrash ? 'keep' : 'ratio',
    });
  let auth: ReturnType<typeof natsAuth>;
  try {
    auth = natsAuth(env);
  } catch (e) {
    if (e instanceof NatsAuthError) throw new ConfigError([e.message]);
    throw e;
  }
  const nc = await connect({
    servers: config.NATS_URL.split(','),
    name: replica,
    noAsyncTraces: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    ...auth,
  }).catch((e: Error) => {
    throw new ConfigError([`NATS_URL=${config.NATS_URL}: no NATS server answers (${e.message})`]);
  });
  const reconnects: ((why: string) => void)[] = [];
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') log.write('warn', 'NATS disconnected', { server: String(s.data) });
      else if (s.type === 'reconnect') {
        const why = `NATS reconnected to ${String(s.data)}: messages in flight may be lost`;
        log.write('warn', why);
        for (const f of reconnects) f(why);
      } else if (s.type === 'error') log.write('error', 'NATS error', { error: String(s.data) });
    }
  })();
  const ctx: ServiceContext<V> = {
    name: def.name,
    replica,
    config,
    log,
    nc,
    rpc: new Rpc(nc, telemetry.enabled ? { trace: natsTrace } : {}),
    telemetry,
    onReconnect: (f) => void reconnects.push(f),
  };
  await def.onStart?.(ctx);

  const dir = protoDir();
  const protoPath = def.protos.map((p) => join(dir, p));
  const health = new HealthImplementation({ '': 'NOT_SERVING', ...Object.fromEntries(def.services.map((s) => [s, 'NOT_SERVING'])) });
  // Reflection covers the service's packages and the health service.
  const reflected = loadSync([...protoPath, healthProto], { ...LOADER, includeDirs: [dir] });
  const address = `${config.GRPC_HOST}:${config.GRPC_PORT}`;
  const app = await NestFactory.createMicroservice<MicroserviceOptions>(def.module(ctx), {
    logger: log,
    transport: Transport.GRPC,
    options: {
      package: [...def.packages],
      protoPath,
      url: address,
      loader: { ...LOADER, includeDirs: [dir] },
      maxReceiveMessageLength: 64 << 20,
      maxSendMessageLength: 64 << 20,
      onLoadPackageDefinition: (_pkg: unknown, server: Pick<Server, 'addService'>) => {
        new ReflectionService(reflected).addToServer(server);
        health.addToServer(server as Server);
      },
    },
  });
  app.useGlobalFilters(
    new GrpcErrorFilter((e) => log.write('error', 'internal error in a handler', { error: e instanceof Error ? (e.stack ?? e.message) : String(e) })),
  );
  try {
    await app.listen();
  } catch (e) {
    await nc.close();
    throw new ConfigError([`GRPC_PORT=${config.GRPC_PORT}: cannot serve on ${address} (${(e as Error).message})`]);
  }
  for (const s of ['', ...def.services]) health.setStatus(s, 'SERVING');
  log.info('ready', { grpc: address, nats: config.NATS_URL, services: def.services });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      for (const s of ['', ...def.services]) health.setStatus(s, 'NOT_SERVING');
      log.info('stopping');
      await def.onStop?.(ctx);
      await app.close();
      await nc.drain().catch(() => undefined);
      await telemetry.shutdown();
      log.info('stopped');
    })());
  return { address, health, stop };
}

/** main() of a service: start, stop on SIGTERM/SIGINT, exit 2 on a bad configuration. */
export function serviceMain<V extends Record<string, VarSpec<unknown>>>(def: ServiceDefinition<V>): void {
  startService(def).then(
    (svc) => {
      const bye = () =>
        void svc.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      process.once('SIGTERM', bye);
      process.once('SIGINT', bye);
      // Started by a test or tool that may itself be killed (a timed-out test file): follow it.
      if (process.env['KDUMP_TWIN_EXIT_WITH_PARENT'] === '1') {
        const parent = process.ppid;
        const watch = setInterval(() => {
          if (process.ppid === parent) return;
          clearInterval(watch);
          bye();
        }, 500).unref();
      }
    },
    (e: unknown) => {
      process.stderr.write(
        `${JSON.stringify({ time: new Date().toISOString(), level: 'error', service: def.name, msg: e instanceof Error ? e.message : String(e) })}\n`,
      );
      process.exit(e instanceof ConfigError ? 2 : 1);
    },
  );
}
