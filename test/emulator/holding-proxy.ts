/**
 * An HTTP proxy in front of the RunPod emulator that holds answers back. A request it is told to hold is
 * forwarded first, so it takes effect (a /run creates its job), and its answer is kept until release(). Tests use
 * it to stop a CLI at an exact moment — a submit in flight, a download begun — with no timing assumptions.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HeldRequest {
  path: string;
  /** The /run body's input.task. */
  task: unknown;
  /** The emulator's answer, as held back. */
  status: number;
  answer: string;
}

export interface HoldingProxy {
  /** Use as RUNPOD_ENDPOINT_BASE_URL. */
  url: string;
  /** From now on, holds the answers to /run requests for `task`; resolves once the first is held (the emulator handled it). */
  holdRun(task: string): Promise<HeldRequest>;
  /** Sends what is held (to clients still there) and holds nothing more. */
  release(): void;
  stop(): Promise<void>;
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function taskOf(body: Buffer): unknown {
  try {
    return (JSON.parse(body.toString('utf8')) as { input?: { task?: unknown } }).input?.task;
  } catch {
    return undefined;
  }
}

export async function startHoldingProxy(emulatorUrl: string): Promise<HoldingProxy> {
  const target = new URL(emulatorUrl);
  let holding: { task: string; first: (held: HeldRequest) => void } | undefined;
  let held: { request: HeldRequest; res: ServerResponse }[] = [];

  const answer = (res: ServerResponse, status: number, text: string): void => {
    if (res.destroyed) return; // the client is gone (killed)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const server = createServer((req, res) => {
    void (async () => {
      const body = await readAll(req);
      const url = new URL(req.url ?? '/', target);
      const forwarded = await fetch(url, {
        method: req.method ?? 'GET',
        headers: { authorization: req.headers.authorization ?? '', 'content-type': 'application/json' },
        ...(req.method === 'POST' ? { body } : {}),
      });
      const text = await forwarded.text();
      const task = url.pathname.endsWith('/run') ? taskOf(body) : undefined;
      if (holding !== undefined && task === holding.task) {
        const request: HeldRequest = { path: url.pathname, task, status: forwarded.status, answer: text };
        held.push({ request, res });
        holding.first(request);
        return;
      }
      answer(res, forwarded.status, text);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const release = (): void => {
    holding = undefined;
    for (const { request, res } of held) answer(res, request.status, request.answer);
    held = [];
  };

  return {
    url: `http://127.0.0.1:${port}${target.pathname}`,
    holdRun(task) {
      return new Promise<HeldRequest>((resolve) => {
        let told = false;
        holding = {
          task,
          first: (request) => {
            if (!told) resolve(request);
            told = true;
          },
        };
      });
    },
    release,
    async stop() {
      release();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
