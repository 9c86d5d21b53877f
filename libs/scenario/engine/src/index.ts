// SPDX-License-Identifier: Apache-2.0
export * from './lib/schema';
export * from './lib/spec';
export * from './lib/collect';
export * from './lib/bus';
export * from './lib/port';
export * from './lib/devices';
export * from './lib/links';
export * from './lib/views';
export * from './lib/platform-role';
export * from './lib/kernel-role';
export * from './lib/invariants';
export * from './lib/predict';
export * from './lib/vmcore';
export * from './lib/report';
export * from './lib/runner';
export * from './catalogue';
export * from './lib/session';
