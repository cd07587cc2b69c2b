// Which workflow transition takes an issue where the caller wants it. Transition ids differ per workflow, so the
// choice is made from the issue's own transitions (GET .../transitions): by the target status's name, or for a
// category, the first transition into that category (Jira lists them in the workflow's order).

import { conflict } from '@qiao/connector-sdk';
import type { StatusCategory, Target } from 'qiao:connector/tasks@0.2.0';
import { category, type JiraStatus } from './issues.js';

export interface Transition {
  id: string;
  name?: string;
  to?: JiraStatus;
}

/** The transition to take, or a `conflict` naming the transitions the issue has. */
export function chooseTransition(transitions: Transition[], target: Target, issue: string, from?: string): Transition {
  let found: Transition | undefined;
  if (target.tag === 'status') {
    found = transitions.find((t) => category(t.to?.statusCategory?.key) === target.val);
  } else {
    const want = target.val.trim().toLowerCase();
    found =
      transitions.find((t) => t.to?.name?.trim().toLowerCase() === want) ??
      transitions.find((t) => t.name?.trim().toLowerCase() === want);
  }
  if (found !== undefined) return found;
  const wanted = target.tag === 'status' ? `a status in category ${target.val}` : `status "${target.val}"`;
  throw conflict(
    `no transition of issue ${issue}${from === undefined ? '' : ` from "${from}"`} leads to ${wanted}; allowed: ${describe(transitions)}`,
    { platformCode: 'no-transition' },
  );
}

/** `Start progress → In Progress (in-progress), Done → Done (done)`, for an operator choosing another target. */
export function describe(transitions: Transition[]): string {
  if (transitions.length === 0) return 'none (the workflow offers this account no transition from here)';
  return transitions
    .slice(0, 30)
    .map((t) => {
      const to = t.to?.name ?? '?';
      const cat: StatusCategory | undefined = category(t.to?.statusCategory?.key);
      return `${t.name ?? t.id} → ${to}${cat === undefined ? '' : ` (${cat})`}`;
    })
    .join(', ');
}
