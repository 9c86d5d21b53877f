// SPDX-License-Identifier: Apache-2.0
// NATS credentials from the environment, so a Kubernetes Secret reaches every process the same
// way: NATS_CREDS (a .creds file: JWT and NKey seed), else NATS_USER with NATS_PASSWORD, else
// NATS_TOKEN. None set: no authentication (a local nats-server).

import { readFileSync } from 'node:fs';
import { credsAuthenticator, type ConnectionOptions } from 'nats';

export class NatsAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NatsAuthError';
  }
}

/** The authentication part of the connection options; an incomplete or unreadable setting names the variable. */
export function natsAuth(env: Readonly<Record<string, string | undefined>> = process.env): Partial<ConnectionOptions> {
  const creds = env['NATS_CREDS'];
  const user = env['NATS_USER'];
  const pass = env['NATS_PASSWORD'];
  const token = env['NATS_TOKEN'];
  const given = [creds && 'NATS_CREDS', (user || pass) && 'NATS_USER/NATS_PASSWORD', token && 'NATS_TOKEN'].filter(Boolean);
  if (given.length > 1) throw new NatsAuthError(`set one of NATS_CREDS, NATS_USER/NATS_PASSWORD, NATS_TOKEN; got ${given.join(' and ')}`);
  if (creds) {
    let text: Uint8Array;
    try {
      text = readFileSync(creds);
    } catch (e) {
      throw new NatsAuthError(`NATS_CREDS=${creds}: cannot read the credentials file (${(e as Error).message})`);
    }
    return { authenticator: credsAuthenticator(text) };
  }
  if (user || pass) {
    if (!user || !pass) throw new NatsAuthError(`NATS_USER and NATS_PASSWORD go together; ${user ? 'NATS_PASSWORD' : 'NATS_USER'} is empty`);
    return { user, pass };
  }
  if (token) return { token };
  return {};
}
