// SPDX-License-Identifier: Apache-2.0
// dma-fleet: the endpoint fleet of every run (FleetHost, on NATS: sessions taken from the
// dma-fleet queue group, slices answered), and twin.fleet.v1 for scripts.
import { serviceMain } from '@kdump-twin/service';
import { DMA_FLEET } from './service';

serviceMain(DMA_FLEET);
