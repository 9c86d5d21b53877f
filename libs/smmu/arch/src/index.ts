// SPDX-License-Identifier: Apache-2.0
export * from './lib/layout';
export * from './lib/enums';
export * from './lib/registers';
export * from './lib/tables';
export * from './lib/commands';
export * from './lib/events';
export * from './lib/descriptors';
export * from './lib/catalogue';
export * from './lib/bytes';
export * from './lib/json';
