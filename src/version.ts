import { readFileSync } from 'node:fs';

/** Herald's version, from package.json (sent as `user-agent: Herald/<version>`). */
export const VERSION: string = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;

/** The `user-agent` of every delivery attempt (and of a delivery preview). */
export const USER_AGENT = `Herald/${VERSION}`;
