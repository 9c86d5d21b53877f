import { readFileSync } from 'node:fs';
import { parseCampaign, workItem } from '@kdump-twin/scenario';
for (const f of ['campaigns/ci-scale.json','campaigns/reviewers.json']) {
  const s = parseCampaign(JSON.parse(readFileSync(f,'utf8')));
  console.log(s.total, workItem(s,0), workItem(s,s.total-1));
}
