/**
 * Paging of a FHIR searchset Bundle: the page asked for (`_count`, `_offset`) and the links a client
 * follows (`self`, `next`, `previous`), each the search's own URL with its parameters and the page's.
 */
import type { BundleLink } from 'fhir/r4';

export interface Page {
  count: number;
  offset: number;
}

/** `self`, and `previous` / `next` where there is a page before or after this one. */
export function pageLinks(
  url: string,
  params: ReadonlyArray<readonly [string, string]>,
  page: Page,
  total: number,
): BundleLink[] {
  const at = (offset: number): string => {
    const query = new URLSearchParams([
      ...params
        .filter(([name]) => name !== '_count' && name !== '_offset')
        .map(([n, v]): [string, string] => [n, v]),
      ['_count', String(page.count)],
      ['_offset', String(offset)],
    ]);
    return `${url}?${query.toString()}`;
  };
  return [
    { relation: 'self', url: at(page.offset) },
    ...(page.offset > 0 ? [{ relation: 'previous', url: at(Math.max(0, page.offset - page.count)) }] : []),
    ...(page.offset + page.count < total ? [{ relation: 'next', url: at(page.offset + page.count) }] : []),
  ];
}
