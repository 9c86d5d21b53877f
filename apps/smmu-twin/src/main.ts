// SPDX-License-Identifier: Apache-2.0
// smmu-twin: the platform of every run (memory, SMMUs, the sequencer, the runner), the hub
// the other three services talk to over NATS, and twin.smmu.v1 + twin.scenario.v1 for scripts.
import { serviceMain } from '@kdump-twin/service';
import { SMMU_TWIN } from './service';

serviceMain(SMMU_TWIN);
