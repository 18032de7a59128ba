// A consumer of the published package, type-checked against its .d.ts
// files and run under Node by pack.test.mjs, from a scratch project that
// installed the tarball `npm pack` made.
import {
  CloseCode,
  SUBPROTOCOL,
  TetherClient,
  TetherError,
  closeCodeName,
  type Message,
  type Status,
  type TetherClientOptions,
  type WebSocketLike,
} from '@tether-ws/client';

const opened: { url: string; protocols?: string | string[] }[] = [];

class FakeSocket implements WebSocketLike {
  binaryType = 'blob';
  protocol = '';
  readyState = 0;
  onopen: ((ev: any) => void) | null = null;
  onmessage: ((ev: any) => void) | null = null;
  onclose: ((ev: any) => void) | null = null;
  onerror: ((ev: any) => void) | null = null;
  constructor(url: string, protocols?: string | string[]) {
    opened.push({ url, protocols });
  }
  send(_data: Uint8Array): void {}
  close(): void {
    this.readyState = 3;
  }
}

const options: TetherClientOptions = { WebSocket: FakeSocket };
const client = new TetherClient('ws://127.0.0.1:1/ws', options);
const seen: Message[] = [];
client.on('message', (m) => {
  seen.push(m);
});
const status: Status = client.status;

// @ts-expect-error: the published types are real, not `any`: a URL is a string.
void (() => new TetherClient(42));

export async function run(): Promise<Record<string, unknown>> {
  await new Promise((r) => setTimeout(r, 10));
  const err = new TetherError('gave_up', 'test');
  const closed = await client.close({ timeout: 10 }).then(() => 'closed', (e: TetherError) => e.code);
  return {
    closed,
    status,
    opened,
    subprotocol: SUBPROTOCOL,
    forbidden: closeCodeName(CloseCode.forbidden),
    errorIsError: err instanceof Error,
    seen: seen.length,
  };
}
