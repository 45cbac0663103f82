import type { EntityManager, EntityName, FilterQuery } from '@mikro-orm/postgresql';
import { validationError } from '../core/errors.ts';

export const PAGE_SIZE = { default: 20, max: 100 };

export interface PageArgs {
  first?: number | null;
  after?: string | null;
}

export interface Page<T> {
  edges: { cursor: string; node: T }[];
  pageInfo: { hasNextPage: boolean; hasPreviousPage: boolean; startCursor: string | null; endCursor: string | null };
}

export function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const id = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!/^[a-z]+_[0-9a-z]{26}$/.test(id)) throw validationError([{ field: 'after', message: 'is not a valid cursor' }]);
  return id;
}

export function pageSize(first: number | null | undefined): number {
  if (first == null) return PAGE_SIZE.default;
  if (!Number.isInteger(first) || first < 1 || first > PAGE_SIZE.max) {
    throw validationError([{ field: 'first', message: `must be between 1 and ${PAGE_SIZE.max}` }]);
  }
  return first;
}

/** Turns `limit + 1` rows fetched newest first into a Relay page. */
export function toPage<T extends { id: string }>(rows: T[], limit: number): Page<T> {
  const hasNextPage = rows.length > limit;
  const nodes = hasNextPage ? rows.slice(0, limit) : rows;
  const edges = nodes.map((node) => ({ cursor: encodeCursor(node.id), node }));
  return {
    edges,
    pageInfo: {
      hasNextPage,
      hasPreviousPage: false,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

/**
 * Newest-first keyset pagination on the time-ordered primary key: a page stays the same
 * while new rows arrive, and `(tenant_id, id)` indexes serve it.
 */
export async function paginate<T extends { id: string }>(
  em: EntityManager,
  entity: EntityName<T>,
  where: FilterQuery<T>,
  args: PageArgs,
): Promise<Page<T>> {
  const limit = pageSize(args.first);
  const filter = args.after ? { $and: [where, { id: { $lt: decodeCursor(args.after) } }] } : where;
  const rows = await em.find(entity, filter as FilterQuery<T>, { orderBy: { id: 'desc' } as never, limit: limit + 1 });
  return toPage(rows as T[], limit);
}
