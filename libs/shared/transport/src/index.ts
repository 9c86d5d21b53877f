// SPDX-License-Identifier: Apache-2.0
export * from './lib/codec';
export * from './lib/rpc';
export * from './lib/protocol';
export * from './lib/kernel-side';
export * from './lib/fleet-side';
export * from './lib/platform-side';
export * from './lib/script';
export * from './lib/slice-pack';
export * from './lib/nats-auth';
export * from './lib/round-trips';
