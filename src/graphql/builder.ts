import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin, { type AuthFailure } from '@pothos/plugin-scope-auth';
import { HeraldError } from '../core/errors.ts';
import type { GraphQLContext } from './context.ts';

/**
 * What a caller may do. `admin`: the admin key. `apiKey`: an API key (admin or tenant), not a
 * customer portal session. `write`: anything but a read-only portal session (every mutation
 * needs it).
 */
interface AuthScopes {
  admin: boolean;
  apiKey: boolean;
  write: boolean;
}

const REFUSALS: Record<keyof AuthScopes, string> = {
  admin: 'This operation needs the admin key',
  apiKey: 'This operation needs an API key: portal sessions cannot create or revoke keys, open portal sessions or publish events',
  write: 'This portal session is read-only',
};

/** The first scope a failure names (Pothos nests the scopes of a map in an "any" failure). */
function refusedScope(failure: AuthFailure): keyof AuthScopes | null {
  if ('scope' in failure) return failure.scope as keyof AuthScopes;
  if ('failures' in failure) {
    for (const inner of failure.failures) {
      const scope = refusedScope(inner);
      if (scope) return scope;
    }
  }
  return null;
}

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  AuthScopes: AuthScopes;
  Scalars: {
    // graphql-js coerces every ID input to a string; saying so here spares each resolver a String().
    ID: { Input: string; Output: string };
    DateTime: { Input: Date; Output: Date };
    JSON: { Input: unknown; Output: unknown };
  };
  DefaultFieldNullability: false;
}>({
  plugins: [ScopeAuthPlugin, RelayPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: ({ caller }) => ({
      admin: caller.kind === 'admin',
      apiKey: caller.kind !== 'portal',
      write: caller.kind !== 'portal' || !caller.readOnly,
    }),
    unauthorizedError: (_parent, _context, _info, result) =>
      new HeraldError('FORBIDDEN', REFUSALS[refusedScope(result.failure) ?? 'admin']),
  },
  relay: {
    clientMutationId: 'omit',
    cursorType: 'String',
    // Herald's ids (`wh_…`) are already global and typed by prefix; no Node interface needed.
    nodeQueryOptions: false,
    nodesQueryOptions: false,
  },
});

builder.queryType({});
// Every mutation changes something: a read-only portal session may call none of them.
builder.mutationType({ authScopes: { write: true } });
builder.subscriptionType({});
