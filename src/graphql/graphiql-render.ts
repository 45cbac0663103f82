// Runs in a worker thread (graphiql-page.ts): renders GraphiQL's page once and hands the bytes
// over, so that the renderer's 9 MB bundle never enters the API process's heap.
import { parentPort, workerData } from 'node:worker_threads';
import { renderGraphiQL } from '@graphql-yoga/render-graphiql';

const page = new TextEncoder().encode(renderGraphiQL(workerData));
parentPort?.postMessage(page, [page.buffer]);
