// What hub test hears on Magellon's broker while it runs a plugin: a consumer of the plugins
// exchange (declared exactly as the SDK and CoreService declare it) on a queue of its own that goes
// with the connection, keeping the announces and heartbeats that match the plugin by Magellon's
// rule. The wire format and the rule are the domain library's (broker/liveness-wire.ts).
import {
  LIVENESS_BINDING_KEYS,
  type LivenessMatch,
  matchesInstalled,
  PLUGINS_EXCHANGE,
  PLUGINS_EXCHANGE_OPTIONS,
  parseLivenessMessage,
  scrubBrokerSecret,
} from '@magellon/hub-core';
import { connect } from 'amqplib';
import { safe } from './output';

export interface BrokerWatch {
  /** Resolves true once a matching announce was heard (before or within `timeoutMs`). */
  announced(timeoutMs: number): Promise<boolean>;
  /** What was heard, one line each: the announce that matched and how, heartbeats, bad messages. */
  describe(): string[];
  close(): Promise<void>;
}

interface Heard {
  routingKey: string;
  instance: string;
  match: LivenessMatch;
}

/** Connects and starts listening; `{why}` when the broker cannot be reached or refuses. */
export async function watchBroker(
  url: string,
  installed: { plugin_id: string; category: string; backend_id?: string; name?: string },
): Promise<BrokerWatch | { why: string }> {
  let conn: Awaited<ReturnType<typeof connect>>;
  try {
    conn = await connect(url, { timeout: 10_000 });
  } catch (err) {
    return { why: scrubBrokerSecret((err as Error).message, url) };
  }
  conn.on('error', () => {
    // a lost connection ends the watch; what was heard stays
  });
  let announce: Heard | undefined;
  let heartbeats = 0;
  const refused: string[] = [];
  const waiters: (() => void)[] = [];
  try {
    const ch = await conn.createChannel();
    await ch.assertExchange(PLUGINS_EXCHANGE, 'topic', PLUGINS_EXCHANGE_OPTIONS);
    const q = await ch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    for (const key of LIVENESS_BINDING_KEYS) await ch.bindQueue(q.queue, PLUGINS_EXCHANGE, key);
    await ch.consume(
      q.queue,
      (msg) => {
        if (!msg) return;
        const parsed = parseLivenessMessage(
          msg.fields.routingKey,
          msg.content.toString('utf8'),
          (msg.properties.headers ?? {}) as Record<string, unknown>,
        );
        if (!parsed.ok) {
          if (refused.length < 5) refused.push(`${msg.fields.routingKey}: ${parsed.why}`);
          return;
        }
        const match = matchesInstalled(installed, parsed.message);
        if (!match) return;
        if (parsed.message.kind === 'heartbeat') heartbeats++;
        else if (!announce) {
          announce = { routingKey: msg.fields.routingKey, instance: parsed.message.instance_id, match };
          for (const wake of waiters.splice(0)) wake();
        }
      },
      { noAck: true },
    );
  } catch (err) {
    await conn.close().catch(() => {});
    return { why: scrubBrokerSecret((err as Error).message, url) };
  }
  return {
    announced: (timeoutMs) =>
      announce
        ? Promise.resolve(true)
        : new Promise((done) => {
            const timer = setTimeout(() => done(announce !== undefined), timeoutMs);
            waiters.push(() => {
              clearTimeout(timer);
              done(true);
            });
          }),
    describe: () => [
      announce
        ? `broker: announce ${safe(announce.routingKey)} from instance ${safe(announce.instance)}, matched by ${announce.match}; ${heartbeats} heartbeat${heartbeats === 1 ? '' : 's'} heard`
        : `broker: no announce of ${safe(installed.plugin_id)} heard (${heartbeats} heartbeat${heartbeats === 1 ? '' : 's'})`,
      ...refused.map((r) => `broker: a message refused: ${safe(r)}`),
    ],
    close: async () => {
      await conn.close().catch(() => {});
    },
  };
}
