// Following a platform's cursors to the end, without trusting it to end: a cursor that comes back twice, or more
// pages than any real listing has, is a failure rather than a call that loops until the host's time limit.

import { internal } from './errors.js';

export interface Page<T> {
  items: T[];
  /** Where the next page starts; `undefined`, `null` or `''` when this was the last page. */
  nextCursor?: string | null;
}

export interface PaginateOptions {
  /** At most this many pages (default 1000); more is an `internal` error, not a silently cut list. */
  maxPages?: number;
  /** What is listed, for the error message (default "listing"). */
  what?: string;
}

/** Every item of every page, asking `fetchPage` for the first page (cursor `undefined`) and then each next cursor. */
export function paginate<T>(fetchPage: (cursor: string | undefined) => Page<T>, options: PaginateOptions = {}): T[] {
  const { maxPages = 1000, what = 'listing' } = options;
  const items: T[] = [];
  const seen = new Set<string>();
  let cursor: string | undefined;
  for (let pages = 0; ; pages++) {
    if (pages >= maxPages) {
      throw internal(`${what}: more than ${maxPages} pages; stopped (the platform's cursors may never end)`);
    }
    const page = fetchPage(cursor);
    items.push(...page.items);
    const next = page.nextCursor;
    if (next === undefined || next === null || next === '') return items;
    if (seen.has(next)) {
      throw internal(`${what}: the platform returned the cursor ${JSON.stringify(next)} twice; stopped instead of looping`);
    }
    seen.add(next);
    cursor = next;
  }
}
