// SPDX-License-Identifier: Apache-2.0
// The campaign's JetStream layout. Two streams and one durable consumer; JetStream does the
// queueing, the acknowledgement, the redelivery and the de-duplication:
//
//   KDUMP_TWIN_CAMPAIGN_WORK     work-queue retention, subjects kdump_twin.campaign.work.<campaign>:
//                                one message per work item, Nats-Msg-Id = the item id, removed
//                                when a worker acknowledges it.
//   consumer `workers`           durable pull consumer all workers share: explicit ack, AckWait,
//                                MaxDeliver = MAX_RUN_ATTEMPTS + 1 (the last delivery is never run,
//                                it records the item as lost).
//   KDUMP_TWIN_CAMPAIGN_RESULTS  limits retention, one message per subject:
//                                kdump_twin.campaign.spec.<campaign>         the campaign document
//                                kdump_twin.campaign.result.<campaign>.<n>   item n's result
//                                so a result is stored once per item id whatever is redelivered.

import {
  connect,
  AckPolicy,
  DiscardPolicy,
  JSONCodec,
  nanos,
  RetentionPolicy,
  StorageType,
  type JetStreamManager,
  type NatsConnection,
  type StreamConfig,
} from 'nats';
import { natsAuth } from '@kdump-twin/transport';

export const WORK_STREAM = 'KDUMP_TWIN_CAMPAIGN_WORK';
export const RESULTS_STREAM = 'KDUMP_TWIN_CAMPAIGN_RESULTS';
export const WORKERS = 'workers';
export const SUBJECT = {
  work: (campaign: string) => `kdump_twin.campaign.work.${campaign}`,
  spec: (campaign: string) => `kdump_twin.campaign.spec.${campaign}`,
  result: (campaign: string, n: number) => `kdump_twin.campaign.result.${campaign}.${n}`,
  results: (campaign: string) => `kdump_twin.campaign.result.${campaign}.*`,
} as const;
/** Runs of one item before it is recorded as lost (each delivery whose worker vanished counts). */
export const MAX_RUN_ATTEMPTS = 5;
/** How long JetStream remembers a message id (a re-submitted item inside it is dropped at the server). */
export const DUPLICATE_WINDOW_MS = 3_600_000;
export const DEFAULT_ACK_WAIT_MS = 60_000;
export const DEFAULT_NATS = 'nats://127.0.0.1:4222';

export const codec = JSONCodec<unknown>();

export interface QueueOptions {
  /** AckWait of the workers' consumer: a run not acknowledged in this time is redelivered. */
  readonly ackWaitMs?: number;
  /** Replicas of both streams (1 locally; 3 on a clustered JetStream). Unset: a new stream gets 1, an existing one keeps its own. */
  readonly replicas?: number;
}

export function natsUrl(flag: string | undefined, env: Readonly<Record<string, string | undefined>> = process.env): string {
  return flag ?? env['NATS_URL'] ?? DEFAULT_NATS;
}

export async function connectNats(url: string, name: string): Promise<NatsConnection> {
  const auth = natsAuth(); // a bad credential setting is a NatsAuthError naming the variable
  try {
    return await connect({ servers: url.split(','), name, noAsyncTraces: true, maxReconnectAttempts: -1, reconnectTimeWait: 500, ...auth });
  } catch (e) {
    throw new Error(`no NATS server answers at ${url} (${(e as Error).message})`, { cause: e });
  }
}

/**
 * Brings a stream to `cfg`. A work-queue stream is not raised in place: raised from R1, its
 * consumer's acks stopped removing messages (nats-server before 2.9.16, nats-io/nats-server#3953;
 * seen here on 2.9.10 even with the consumer raised and stepped down), so an empty one is made
 * again at the new size and one that still holds work is refused.
 */
async function ensureStream(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    const info = await jsm.streams.info(cfg.name);
    // Retention cannot change on a live stream; the rest is brought to this layout.
    if (info.config.retention !== cfg.retention)
      throw new Error(
        `stream ${cfg.name} exists with retention ${info.config.retention}, the campaign needs ${cfg.retention}; delete it (nats stream rm ${cfg.name})`,
      );
    // A single server takes an update to R3 and keeps one copy: refuse it before it is recorded.
    if ((cfg.num_replicas ?? 1) > 1 && !info.cluster?.name)
      throw new QueueConfigError(
        `--replicas ${cfg.num_replicas}: stream ${cfg.name}: this NATS server is not clustered (a JetStream cluster of at least ${cfg.num_replicas} servers is needed)`,
      );
    const want = cfg.num_replicas;
    const raise = want !== undefined && want > info.config.num_replicas;
    if (raise && cfg.retention === RetentionPolicy.Workqueue) {
      if (info.state.messages > 0)
        throw new QueueConfigError(
          `--replicas ${want}: stream ${cfg.name} (R${info.config.num_replicas}) still holds ${info.state.messages} queued items; a work queue is raised only when empty: let them finish, or purge their campaigns`,
        );
      await jsm.streams.delete(cfg.name);
      await replicated(cfg, () => jsm.streams.add(cfg));
    } else {
      // A worker (no replicas given) never scales down what the controller asked for.
      await replicated(cfg, () =>
        jsm.streams.update(cfg.name, { ...cfg, subjects: cfg.subjects ?? [], num_replicas: cfg.num_replicas ?? info.config.num_replicas }),
      );
    }
    if (raise) await replicasCurrent(jsm, cfg.name, want);
  } catch (e) {
    if (!/stream not found/i.test((e as Error).message)) throw e;
    await replicated(cfg, () => jsm.streams.add({ ...cfg, num_replicas: cfg.num_replicas ?? 1 }));
  }
}

/** How long a stream raised to more replicas may take to have them all current. */
const RAISE_TIMEOUT_MS = 60_000;

/**
 * Waits until a stream raised to `replicas` has a leader and every peer current. Right after the
 * raise the stream elects and catches up, and the next operation on it timed out (seen on a
 * 3-server nats-server 2.9 cluster).
 */
async function replicasCurrent(jsm: JetStreamManager, name: string, replicas: number): Promise<void> {
  const end = Date.now() + RAISE_TIMEOUT_MS;
  let last = 'no answer';
  while (Date.now() < end) {
    try {
      const c = (await jsm.streams.info(name)).cluster;
      const peers = c?.replicas ?? [];
      if (c?.leader && peers.length >= replicas - 1 && peers.every((p) => p.current)) return;
      last = `leader ${c?.leader ?? 'none'}, ${peers.filter((p) => p.current).length}/${replicas - 1} replicas current`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new QueueConfigError(`--replicas ${replicas}: stream ${name} did not get its replicas within ${RAISE_TIMEOUT_MS / 1000} s (${last})`);
}

/** The server cannot hold the streams as asked (e.g. R3 on a single server): bad input, not a crash. */
export class QueueConfigError extends Error {}

/** A stream operation whose failure over replicas names the option (a single server cannot hold R3). */
async function replicated(cfg: Partial<StreamConfig> & { name: string }, op: () => Promise<unknown>): Promise<void> {
  try {
    await op();
  } catch (e) {
    if (cfg.num_replicas !== undefined && cfg.num_replicas > 1 && !(e instanceof QueueConfigError))
      throw new QueueConfigError(
        `--replicas ${cfg.num_replicas}: stream ${cfg.name}: ${(e as Error).message} (a JetStream cluster of at least ${cfg.num_replicas} servers is needed)`,
        { cause: e },
      );
    throw e;
  }
}

/** Creates (or brings up to date) both streams and the workers' consumer; idempotent. */
export async function ensureQueue(nc: NatsConnection, o: QueueOptions = {}): Promise<JetStreamManager> {
  const jsm = await nc.jetstreamManager();
  const replicas = o.replicas;
  await ensureStream(jsm, {
    name: WORK_STREAM,
    subjects: ['kdump_twin.campaign.work.*'],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    num_replicas: replicas,
    discard: DiscardPolicy.New,
  });
  await ensureStream(jsm, {
    name: RESULTS_STREAM,
    subjects: ['kdump_twin.campaign.spec.*', 'kdump_twin.campaign.result.*.*'],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_msgs_per_subject: 1,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    num_replicas: replicas,
    discard: DiscardPolicy.Old,
  });
  const ackWait = o.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  const want = { durable_name: WORKERS, ack_policy: AckPolicy.Explicit, ack_wait: nanos(ackWait), max_deliver: MAX_RUN_ATTEMPTS + 1, max_ack_pending: 10_000 };
  try {
    const c = await jsm.consumers.info(WORK_STREAM, WORKERS);
    if (c.config.ack_wait !== want.ack_wait) await jsm.consumers.update(WORK_STREAM, WORKERS, { ack_wait: want.ack_wait, max_deliver: want.max_deliver });
  } catch (e) {
    if (!/consumer not found/i.test((e as Error).message)) throw e;
    await jsm.consumers.add(WORK_STREAM, want);
  }
  return jsm;
}

/** 250 ms, 500 ms, ... up to 3 s: long enough for a JetStream leader election between tries. */
export function natsPause(attempt: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(3_000, 250 * attempt)));
}

/**
 * An idempotent NATS operation (a lookup, a publish under a message id, an ack), tried up to
 * `attempts` times with natsPause between while the connection is open: a 503 or a timeout
 * while JetStream elects a leader is ridden out. The last error is thrown as it came.
 */
export async function retryNats<T>(nc: NatsConnection, op: () => Promise<T>, o: { attempts?: number; onRetry?: () => void } = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (e) {
      if (nc.isClosed() || attempt >= (o.attempts ?? 8)) throw e;
      o.onRetry?.();
      await natsPause(attempt);
    }
  }
}

/** The stored message on a subject of the results stream, or undefined. */
export async function lastOn(jsm: JetStreamManager, subject: string): Promise<{ data: unknown; seq: number; time: Date } | undefined> {
  try {
    const m = await jsm.streams.getMessage(RESULTS_STREAM, { last_by_subj: subject });
    return { data: codec.decode(m.data), seq: m.seq, time: m.time };
  } catch (e) {
    if (/no message found|not found/i.test((e as Error).message)) return undefined;
    throw e;
  }
}

/** Canonical JSON (sorted keys): equal documents give equal text. */
export function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.keys(v as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}
