import type { GraphQLError } from 'graphql';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';

/**
 * A broken request is a 400 whatever the client accepts. Yoga answers a document that does not
 * parse or validate (`GRAPHQL_PARSE_FAILED`, `GRAPHQL_VALIDATION_FAILED`) and a body that is not
 * JSON (`BAD_REQUEST`) with 400 only for `Accept: application/graphql-response+json`, and 200 for
 * `application/json` or no Accept (what curl and fetch send), as the GraphQL-over-HTTP draft
 * allows for legacy clients; a 200 reads as success to anything that looks at the status. The
 * same holds for the VALIDATION_ERROR (422) of a value refused inline, which is found while the
 * document is validated (input-errors.ts): its status was 200 too unless the client asked for
 * graphql-response+json, while the same value in variables was a 422.
 *
 * Also drops `extensions.originalError`, which yoga puts on a JSON syntax error (the parser's
 * name and message): clients get Herald's error, never what produced it.
 */
export function useRequestErrors(): Plugin {
  const fix = (error: GraphQLError) => {
    const extensions = error.extensions as Record<string, unknown> | undefined;
    if (!extensions) return;
    delete extensions.originalError;
    const http = extensions.http as { spec?: boolean } | undefined;
    if (http?.spec) http.spec = false;
  };
  return {
    onResultProcess({ result }) {
      if (isAsyncIterable(result)) return;
      for (const one of Array.isArray(result) ? result : [result]) for (const error of one.errors ?? []) fix(error as GraphQLError);
    },
  };
}
