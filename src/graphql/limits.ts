// What a GraphQL request may ask for, enforced before anything runs, over HTTP and over
// graphql-ws alike: the WebSocket path (server.ts) parses, validates and executes through the
// same envelop (`yoga.getEnveloped`), so every plugin here applies there too.
import { maxAliasesPlugin } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthPlugin } from '@escape.tech/graphql-armor-max-depth';
import { maxTokensPlugin } from '@escape.tech/graphql-armor-max-tokens';
import { useCSRFPrevention } from '@graphql-yoga/plugin-csrf-prevention';
import { type ExecutionArgs, GraphQLError, getNullableType, isListType, NoSchemaIntrospectionCustomRule } from 'graphql';
import { type ComplexityEstimator, getComplexity } from 'graphql-query-complexity';
import type { Plugin } from 'graphql-yoga';
import type { GraphQLLimits } from '../config.ts';
import { HeraldError } from '../core/errors.ts';
import { PAGE_SIZE } from '../services/pagination.ts';

type Limit = 'depth' | 'aliases' | 'tokens' | 'cost';

const VARIABLE: Record<Limit, string> = {
  depth: 'HERALD_MAX_DEPTH',
  aliases: 'HERALD_MAX_ALIASES',
  tokens: 'HERALD_MAX_TOKENS',
  cost: 'HERALD_MAX_COST',
};

/** QUERY_TOO_COMPLEX (400) naming the limit, e.g. "Query depth limit of 12 exceeded, found 14." */
export function tooComplex(limit: Limit, max: number, message: string): HeraldError {
  return new HeraldError('QUERY_TOO_COMPLEX', `${message} (${VARIABLE[limit]})`, { limit, max });
}

/** graphql-armor's onReject: its error (worded "Syntax Error: …") becomes QUERY_TOO_COMPLEX. */
function rejectAs(limit: Limit, max: number) {
  return [
    (_context: unknown, error: GraphQLError) => {
      throw tooComplex(limit, max, error.message.replace(/^Syntax Error: /, ''));
    },
  ];
}

/**
 * How many list items a plain object list (a delivery's attempts, the event types) is taken to
 * hold: about one retry schedule's worth.
 */
const LIST_ESTIMATE = 10;

/**
 * The cost of a field: 1, plus its selection's cost times the items it returns. A connection
 * returns `first` items (the page size when omitted; clamped to the page range, so that a bad
 * `first` gets its own VALIDATION_ERROR), its `edges` no more; another object list
 * LIST_ESTIMATE. Introspection is costed the same way, which keeps GraphiQL's own introspection
 * query cheap and a self-nesting one (`fields { type { fields { … } } }`) out.
 */
const fieldCost: ComplexityEstimator = ({ type, field, args, childComplexity }) => {
  if (field.args.some((arg) => arg.name === 'first')) {
    const first = typeof args.first === 'number' ? args.first : PAGE_SIZE.default;
    return 1 + Math.min(Math.max(first, 1), PAGE_SIZE.max) * childComplexity;
  }
  if (isListType(getNullableType(field.type)) && !type.name.endsWith('Connection')) {
    return 1 + LIST_ESTIMATE * childComplexity;
  }
  return 1 + childComplexity;
};

/**
 * The cost limit, checked once the variables are known (a connection's `first` is usually one),
 * before execution or a subscription starts. graphql-armor's cost limit reads only literal
 * `first` values, hence graphql-query-complexity here.
 */
function costLimit(maxCost: number): Plugin {
  const refuse = (args: ExecutionArgs): HeraldError | null => {
    let cost: number;
    try {
      cost = getComplexity({
        schema: args.schema,
        query: args.document,
        variables: args.variableValues ?? {},
        operationName: args.operationName ?? undefined,
        estimators: [fieldCost],
        // Fields visited, fragments expanded: a bound on the counting itself.
        maxQueryNodes: maxCost + 1,
      });
    } catch (error) {
      if (error instanceof GraphQLError && /maximum allowed number of nodes/.test(error.message)) {
        return tooComplex('cost', maxCost, `Query cost limit of ${maxCost} exceeded: over ${maxCost} fields to visit.`);
      }
      // Variables that do not fit the operation: execution reports them with their own code.
      return null;
    }
    return cost > maxCost ? tooComplex('cost', maxCost, `Query cost limit of ${maxCost} exceeded, found ${cost}.`) : null;
  };
  return {
    onExecute({ args, setResultAndStopExecution }) {
      const error = refuse(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const error = refuse(args);
      if (error) setResultAndStopExecution({ errors: [error] });
    },
  };
}

/**
 * Refuses a request body over `maxBytes` with PAYLOAD_TOO_LARGE: at once when Content-Length
 * says so; otherwise (chunked) yoga's own `maxRequestBodySize`, set to the same figure, counts
 * the bytes as they are read. It runs after this plugin and wraps the parser set here, so its
 * error passes through it and is given Herald's code.
 */
function requestBodyLimit(maxBytes: number): Plugin {
  const tooLarge = () =>
    new HeraldError('PAYLOAD_TOO_LARGE', `The request body is over ${maxBytes} bytes (HERALD_MAX_REQUEST_BYTES)`, { max: maxBytes });
  return {
    onRequestParse({ request, requestParser, setRequestParser }) {
      if (Number(request.headers.get('content-length')) > maxBytes) throw tooLarge();
      if (!requestParser) return;
      setRequestParser(async (req) => {
        try {
          return await requestParser(req);
        } catch (error) {
          throw (error as GraphQLError)?.extensions?.code === 'REQUEST_ENTITY_TOO_LARGE' ? tooLarge() : error;
        }
      });
    },
  };
}

/**
 * yoga's CSRF prevention: a request a browser would send cross-site without a preflight (a GET,
 * or a form's content type) must carry `x-graphql-yoga-csrf`; a JSON POST needs nothing. Its
 * refusal gets Herald's code.
 */
function csrfPrevention(): Plugin {
  const { onRequestParse } = useCSRFPrevention();
  return {
    onRequestParse(payload) {
      try {
        return onRequestParse?.(payload);
      } catch {
        throw new HeraldError(
          'CSRF_REFUSED',
          'Refused as a possible cross-site request: send the operation as JSON (content-type: application/json) or add the header x-graphql-yoga-csrf',
        );
      }
    },
  };
}

/** Refuses `__schema` and `__type` (HERALD_GRAPHIQL=false); `__typename` stays. */
const noIntrospection: Plugin = {
  onValidate({ addValidationRule }) {
    addValidationRule(NoSchemaIntrospectionCustomRule);
  },
};

/**
 * The envelop plugins that enforce `limits` (yoga's `maxRequestBodySize` must be set to
 * `limits.maxRequestBytes` beside them). Each refusal is a HeraldError: QUERY_TOO_COMPLEX
 * (`extensions.limit` = depth | aliases | tokens | cost, `extensions.max`), PAYLOAD_TOO_LARGE or
 * CSRF_REFUSED.
 */
export function graphqlLimits(limits: Readonly<GraphQLLimits>, options: { introspection: boolean }): Plugin[] {
  return [
    csrfPrevention(),
    requestBodyLimit(limits.maxRequestBytes),
    maxTokensPlugin({ n: limits.maxTokens, onReject: rejectAs('tokens', limits.maxTokens) }),
    maxDepthPlugin({ n: limits.maxDepth, ignoreIntrospection: true, onReject: rejectAs('depth', limits.maxDepth) }),
    maxAliasesPlugin({ n: limits.maxAliases, onReject: rejectAs('aliases', limits.maxAliases) }),
    costLimit(limits.maxCost),
    ...(options.introspection ? [] : [noIntrospection]),
  ];
}
