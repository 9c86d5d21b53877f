// SPDX-License-Identifier: Apache-2.0
/** A configuration the environment gives that cannot be used; the message names the variable and the rule. */
export class TelemetryConfigError extends Error {
  override readonly name = 'TelemetryConfigError';
}
