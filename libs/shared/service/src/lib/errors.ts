// SPDX-License-Identifier: Apache-2.0
// Every error a handler meets, as the gRPC status a client can act on, with a message that
// names the field and the rule. The service keeps serving: an error ends one call, not the process.

import { status } from '@grpc/grpc-js';
import { ArgumentsHost, Catch, type RpcExceptionFilter } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { SchemaError, SessionStateError } from '@kdump-twin/scenario';
import { MachineInputError } from '@kdump-twin/smmu-model';
import { PeerLost, RemoteError } from '@kdump-twin/transport';
import { throwError, type Observable } from 'rxjs';
import { ConfigError } from './config';

/** Not there: a session, machine, run or device id nobody holds. */
export class NotFound extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotFound';
  }
}

/** Work abandoned because the fabric under it failed (a NATS reconnect mid-run). */
export class Abandoned extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Abandoned';
  }
}

/** A replica's limit reached (its MAX_MACHINES): free something, or use another replica. */
export class Exhausted extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Exhausted';
  }
}

export interface GrpcError {
  readonly code: status;
  readonly message: string;
}

const BY_NAME: Record<string, status> = {
  SchemaError: status.INVALID_ARGUMENT,
  RangeError: status.INVALID_ARGUMENT,
  TypeError: status.INVALID_ARGUMENT,
  CodecError: status.INVALID_ARGUMENT,
  SessionStateError: status.FAILED_PRECONDITION,
  NotFound: status.NOT_FOUND,
  Abandoned: status.ABORTED,
  Exhausted: status.RESOURCE_EXHAUSTED,
  ConfigError: status.INVALID_ARGUMENT,
  // A peer lost by the service that answered us (a session step's kernel or fleet gone): still unavailable, not internal.
  PeerLost: status.UNAVAILABLE,
};

/**
 * The longest status message sent: a status travels in the response trailers, which gRPC bounds
 * (8 KiB by default), and a message echoing a huge input (a 100 KB id) made the caller's channel
 * stall. Longer messages are cut, saying how long they were.
 */
export const MAX_STATUS_MESSAGE = 1024;

function bounded(g: GrpcError): GrpcError {
  return g.message.length <= MAX_STATUS_MESSAGE
    ? g
    : { code: g.code, message: `${g.message.slice(0, MAX_STATUS_MESSAGE - 80)}… (message cut: ${g.message.length} characters)` };
}

export function grpcError(e: unknown): GrpcError {
  return bounded(statusOf(e));
}

function statusOf(e: unknown): GrpcError {
  if (e instanceof RpcException) {
    const x = e.getError() as { code?: status; message?: string } | string;
    return typeof x === 'string' ? { code: status.UNKNOWN, message: x } : { code: x.code ?? status.UNKNOWN, message: x.message ?? String(x) };
  }
  if (e instanceof MachineInputError) {
    const code =
      e.code === 'out-of-range'
        ? status.OUT_OF_RANGE
        : e.code === 'not-found'
          ? status.NOT_FOUND
          : e.code === 'precondition'
            ? status.FAILED_PRECONDITION
            : status.INVALID_ARGUMENT;
    return { code, message: e.message };
  }
  if (
    e instanceof SchemaError ||
    e instanceof SessionStateError ||
    e instanceof NotFound ||
    e instanceof Abandoned ||
    e instanceof Exhausted ||
    e instanceof ConfigError
  )
    return { code: BY_NAME[e.name]!, message: e.message };
  if (e instanceof PeerLost) {
    // A session subject nobody serves: the session is gone (closed, or its service stopped).
    const m = /^twin\.v1\.run\.([^.]+)\.script$/.exec(e.subject);
    return m
      ? { code: status.NOT_FOUND, message: `session ${m[1]}: no such session (closed, or the smmu-twin holding it stopped)` }
      : { code: status.UNAVAILABLE, message: e.message };
  }
  if (e instanceof RemoteError) return { code: BY_NAME[e.remoteName] ?? status.INTERNAL, message: e.message };
  if (e instanceof Error)
    return { code: BY_NAME[e.name] ?? status.INTERNAL, message: e.name === 'Error' || BY_NAME[e.name] ? e.message : `${e.name}: ${e.message}` };
  return { code: status.INTERNAL, message: String(e) };
}

/** The global filter: whatever a handler throws leaves as a gRPC status. */
@Catch()
export class GrpcErrorFilter implements RpcExceptionFilter<unknown> {
  constructor(private readonly onInternal?: (e: unknown) => void) {}

  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    const g = grpcError(exception);
    if (g.code === status.INTERNAL) this.onInternal?.(exception);
    return throwError(() => ({ code: g.code, message: g.message, details: g.message }));
  }
}
