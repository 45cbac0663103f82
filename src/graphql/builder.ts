import SchemaBuilder from '@pothos/core';
import RelayPlugin from '@pothos/plugin-relay';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { HeraldError } from '../core/errors.ts';
import type { GraphQLContext } from './context.ts';

export const builder = new SchemaBuilder<{
  Context: GraphQLContext;
  AuthScopes: { admin: boolean };
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
    authScopes: (context) => ({ admin: context.caller.kind === 'admin' }),
    unauthorizedError: () => new HeraldError('FORBIDDEN', 'This operation needs the admin key'),
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
builder.mutationType({});
builder.subscriptionType({});
