// SPDX-License-Identifier: Apache-2.0
// Catalogue, part 1: the baseline and R1..R9 (S1a..S9) of kdump-adopt-series.md section 4.
import { catalogueTests } from '../testing/catalogue';

catalogueTests((e) => e.id === 'baseline' || /^S[1-9][a-z]?-/.test(e.id));
