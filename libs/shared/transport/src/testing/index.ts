// SPDX-License-Identifier: Apache-2.0
// Helpers for tests and tools: a real nats-server on a free loopback port, and the remote roles
// of a run in one process.
export * from './nats-server';
export * from './services';
