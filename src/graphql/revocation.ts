import type { ExecutionResult } from 'graphql';
import { MessageType, stringifyMessage, type Context as WsContext } from 'graphql-ws';
import { isAsyncIterable, type Plugin } from 'graphql-yoga';
import type { WebSocket } from 'ws';
import { HeraldError } from '../core/errors.ts';
import type { Credential, CredentialEnd, CredentialWatch } from '../live/credentials.ts';
import type { Caller } from '../services/caller.ts';
import { credentialOf } from '../services/credentials.ts';
import type { GraphQLContext } from './context.ts';

const WHY: Record<CredentialEnd, string> = {
  revoked: 'The credentials this was opened with were revoked',
  expired: 'The credentials this was opened with have expired',
};

/** The error that ends what a revoked or expired credential opened. */
export function credentialEndedError(end: CredentialEnd): HeraldError {
  return new HeraldError('UNAUTHORIZED', WHY[end]);
}

/**
 * Ends every subscription, on every transport, once the credential it authenticated with is
 * revoked or expires: graphql-ws sends an `error` with UNAUTHORIZED; over HTTP (GraphQL over
 * SSE, which has no error event) the stream's last result carries that error, then it completes.
 */
export function useCredentialWatch(watch: CredentialWatch): Plugin {
  return {
    onSubscribe: ({ args }) => ({
      onSubscribeResult: ({ result, setResult }) => {
        const context = args.contextValue as unknown as GraphQLContext;
        const credential = credentialOf(context.caller);
        if (!credential || !isAsyncIterable(result)) return;
        setResult(endWithCredential(result, watch, credential, context.closeConnection !== undefined));
      },
    }),
  };
}

/**
 * For a WebSocket connection authenticated in `connection_init`: once its credential ends, each
 * of its subscriptions gets an `error` with UNAUTHORIZED, then `close` (4401) closes it.
 * Watched from the acknowledgement, before any of its subscriptions, so this runs first and
 * the messages precede the close frame.
 */
export function closeWithCredential(
  watch: CredentialWatch,
  caller: Caller,
  ctx: WsContext<Record<string, unknown>, { socket: WebSocket }>,
  close: (error: HeraldError) => void,
): void {
  const credential = credentialOf(caller);
  if (!credential) return;
  const { socket } = ctx.extra;
  const unwatch = watch.watch(credential, (end) => {
    const error = credentialEndedError(end);
    for (const id of Object.keys(ctx.subscriptions)) {
      socket.send(stringifyMessage({ id, type: MessageType.Error, payload: [error.toJSON()] }));
    }
    close(error);
  });
  socket.once('close', unwatch);
}

/**
 * The subscription's results until its credential ends, then that error (thrown over
 * WebSocket, the last result over HTTP). The source is stopped at once, even while it waits.
 * Not an async generator: return() must end it while a next() is pending.
 */
function endWithCredential(
  source: AsyncIterable<ExecutionResult>,
  watch: CredentialWatch,
  credential: Credential,
  overWebSocket: boolean,
): AsyncIterableIterator<ExecutionResult> {
  const iterator = source[Symbol.asyncIterator]();
  let ended: HeraldError | null = null;
  let interrupt: ((error: HeraldError) => void) | null = null;
  let finished = false;
  const unwatch = watch.watch(credential, (end) => {
    ended = credentialEndedError(end);
    interrupt?.(ended);
    void iterator.return?.();
  });
  const finish = () => {
    finished = true;
    unwatch();
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next(): Promise<IteratorResult<ExecutionResult>> {
      if (finished) return { done: true, value: undefined };
      if (!ended) {
        // A fresh promise per call: racing one shared promise would keep a reaction per message.
        const interrupted = new Promise<never>((_resolve, reject) => (interrupt = reject));
        try {
          const result = await Promise.race([iterator.next(), interrupted]);
          if (result.done) finish();
          return result;
        } catch (error) {
          if (error !== ended) {
            finish();
            throw error;
          }
        } finally {
          interrupt = null;
        }
      }
      finish();
      if (overWebSocket) throw ended;
      return { done: false, value: { errors: [ended!] } };
    },
    async return(): Promise<IteratorResult<ExecutionResult>> {
      finish();
      await iterator.return?.();
      return { done: true, value: undefined };
    },
  };
}
