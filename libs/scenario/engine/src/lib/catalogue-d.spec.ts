// SPDX-License-Identifier: Apache-2.0
// Catalogue, part 4: S12 (SFM at the kdump probe). Every CMD_SYNC waits out its one-second
// timeout while the devices keep DMAing; since each device's IOMMU probe (and its flush and
// attach) waits for its driver, those waits fall later in the run, so it gets a file of its own.
import { catalogueTests } from '../testing/catalogue';

catalogueTests((e) => /^S12-/.test(e.id));
