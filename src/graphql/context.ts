import type { LiveBus } from '../live/bus.ts';
import type { ServiceContext } from '../services/context.ts';

/** The context of one GraphQL operation (HTTP request or WebSocket subscription). */
export interface GraphQLContext extends ServiceContext {
  live: LiveBus;
  /** The address browsers reach Herald at, without a trailing slash (portal links are built on it). */
  publicUrl: string;
  /** Over WebSocket: closes this client's connection (used when it reads too slowly). */
  closeConnection?(code: number, reason: string): void;
}
