/**
 * How Magellon plugins prove they are alive over RabbitMQ, as the Magellon SDK does it, and how an
 * installed plugin is recognised among the messages. One topic exchange, `magellon.plugins`
 * (durable, not auto-deleted: a consumer must declare it the same way or the broker refuses), carries
 *
 *   magellon.plugins.announce.<category>.<plugin>    once at start (and again on reconnect)
 *   magellon.plugins.heartbeat.<category>.<plugin>   on a timer
 *
 * where <category> is the category's name in lower case (it may hold spaces: `particle picking`)
 * and <plugin> the plugin's own name (a display name such as `CTF Plugin` for real plugins). The
 * body is the JSON of the SDK's Announce or Heartbeat model; CloudEvents metadata rides in `ce-*`
 * AMQP headers (binary content mode), the content type in the message properties. Runtime-free: the
 * transport is the caller's.
 */
import { z } from 'zod';

/** The topic exchange announces and heartbeats are published on. */
export const PLUGINS_EXCHANGE = 'magellon.plugins';
/** How the SDK declares it: a consumer declaring it differently is refused (PRECONDITION_FAILED). */
export const PLUGINS_EXCHANGE_OPTIONS = {
  type: 'topic',
  durable: true,
  autoDelete: false,
  internal: false,
} as const;

export type LivenessKind = 'announce' | 'heartbeat';

const PREFIX = 'magellon.plugins.';
/** Binding keys that receive every plugin's announces and heartbeats. */
export const LIVENESS_BINDING_KEYS = [`${PREFIX}announce.#`, `${PREFIX}heartbeat.#`] as const;

/** The CloudEvents `type` and `source` the SDK gives discovery messages. */
export const LIVENESS_EVENT_TYPES: Record<LivenessKind, string> = {
  announce: 'magellon.plugin.announce.v1',
  heartbeat: 'magellon.plugin.heartbeat.v1',
};
export const LIVENESS_EVENT_SOURCE = 'magellon/plugin/discovery';

/** The largest announce or heartbeat body accepted (an announce carries a manifest and schemas). */
export const MAX_LIVENESS_MESSAGE_BYTES = 256 * 1024;

/** The routing key (and CloudEvents subject) of one plugin's announces or heartbeats. */
export function livenessRoutingKey(kind: LivenessKind, category: string, plugin: string): string {
  return `${PREFIX}${kind}.${category.toLowerCase()}.${plugin}`;
}

/**
 * What a routing key says: its kind, category and plugin (the rest of the key after the category,
 * so a plugin name with dots survives), or undefined for any other key.
 */
export function parseLivenessRoutingKey(
  key: string,
): { kind: LivenessKind; category: string; plugin: string } | undefined {
  if (!key.startsWith(PREFIX) || key.length > 512) return undefined;
  const [kind, category, ...plugin] = key.slice(PREFIX.length).split('.');
  if ((kind !== 'announce' && kind !== 'heartbeat') || !category || plugin.join('') === '') return undefined;
  return { kind, category, plugin: plugin.join('.') };
}

/**
 * The AMQP headers the SDK's binder sets on an event (CloudEvents 1.0, binary content mode), with
 * the message properties it publishes them with.
 */
export function livenessHeaders(
  kind: LivenessKind,
  subject: string,
  id: string,
  time: string,
): {
  headers: Record<string, string>;
  properties: { contentType: 'application/json'; deliveryMode: 2 };
} {
  return {
    headers: {
      'ce-specversion': '1.0',
      'ce-id': id,
      'ce-source': LIVENESS_EVENT_SOURCE,
      'ce-type': LIVENESS_EVENT_TYPES[kind],
      'ce-time': time,
      'ce-subject': subject,
    },
    properties: { contentType: 'application/json', deliveryMode: 2 },
  };
}

const text = (max: number) => z.string().min(1).max(max);
const optionalText = (max: number) =>
  z
    .string()
    .max(max)
    .nullish()
    .transform((v) => (v ? v : undefined));

/** The SDK's Heartbeat body; fields it may add later are let through. */
export const heartbeatBodySchema = z.looseObject({
  plugin_id: text(200),
  plugin_version: z.string().max(100),
  category: text(200),
  instance_id: text(200),
  ts: z.string().max(64).optional(),
  status: optionalText(64),
});

/** The SDK's Announce body: a heartbeat's fields and the manifest, backend id, endpoints. */
export const announceBodySchema = z.looseObject({
  ...heartbeatBodySchema.shape,
  status: z.unknown().optional(),
  manifest: z.unknown().optional(),
  backend_id: optionalText(200),
  task_queue: optionalText(512),
  http_endpoint: optionalText(2048),
});

/** One validated announce or heartbeat. */
export interface LivenessMessage {
  kind: LivenessKind;
  plugin_id: string;
  plugin_version: string;
  category: string;
  instance_id: string;
  backend_id?: string;
  status?: string;
}

/**
 * Validates a message taken off the exchange: its routing key, size, JSON body and (when present)
 * its `ce-type` header. A bad message is a reason, never an exception.
 */
export function parseLivenessMessage(
  routingKey: string,
  body: string,
  headers: Record<string, unknown> = {},
): { ok: true; message: LivenessMessage } | { ok: false; why: string } {
  const key = parseLivenessRoutingKey(routingKey);
  if (!key) return { ok: false, why: 'not an announce or heartbeat routing key' };
  if (body.length > MAX_LIVENESS_MESSAGE_BYTES) {
    return { ok: false, why: `body larger than ${MAX_LIVENESS_MESSAGE_BYTES} bytes` };
  }
  const ceType = headers['ce-type'];
  if (ceType !== undefined && String(ceType) !== LIVENESS_EVENT_TYPES[key.kind]) {
    return { ok: false, why: `ce-type is not ${LIVENESS_EVENT_TYPES[key.kind]}` };
  }
  let data: unknown;
  try {
    data = JSON.parse(body);
  } catch {
    return { ok: false, why: 'the body is not JSON' };
  }
  const parsed = (key.kind === 'announce' ? announceBodySchema : heartbeatBodySchema).safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, why: `${issue.path.join('.') || 'body'}: ${issue.message}` };
  }
  const b = parsed.data;
  return {
    ok: true,
    message: {
      kind: key.kind,
      plugin_id: b.plugin_id,
      plugin_version: b.plugin_version,
      category: b.category,
      instance_id: b.instance_id,
      ...('backend_id' in b && typeof b.backend_id === 'string' ? { backend_id: b.backend_id } : {}),
      ...(typeof b.status === 'string' ? { status: b.status } : {}),
    },
  };
}

/** Which field of a message recognised an installed plugin. */
export type LivenessMatch = 'plugin_id' | 'backend_id' | 'name' | 'category';

/** A name compared without case and without separators (`CTF Plugin`, `ctf_plugin`, `ctf-plugin`). */
export const normalisedName = (s: string) => s.toLowerCase().replace(/[\s_.-]+/g, '');

/**
 * Whether a message comes from an installed plugin, and by which field (Magellon's own rule, so
 * plugins that announce under a display name still count): the same plugin id; the announce's
 * backend id equal to the plugin's id or backend id; the announced name equal to the manifest's
 * name, or (ids of 4 characters or more) containing the plugin id, both compared normalised; or,
 * for a plugin whose id is its category, the announced category. Versions are not compared.
 */
export function matchesInstalled(
  installed: { plugin_id: string; category: string; backend_id?: string; name?: string },
  message: Pick<LivenessMessage, 'plugin_id' | 'category' | 'backend_id'>,
): LivenessMatch | undefined {
  if (message.plugin_id === installed.plugin_id) return 'plugin_id';
  const id = normalisedName(installed.plugin_id);
  const announced = normalisedName(message.plugin_id);
  if (message.backend_id !== undefined) {
    const backend = normalisedName(message.backend_id);
    if (backend !== '' && (backend === id || backend === normalisedName(installed.backend_id ?? ''))) {
      return 'backend_id';
    }
  }
  if (installed.name !== undefined && announced !== '' && announced === normalisedName(installed.name)) {
    return 'name';
  }
  if (id.length >= 4 && announced.includes(id)) return 'name';
  const category = normalisedName(message.category);
  if (category === id && category === normalisedName(installed.category)) return 'category';
  return undefined;
}
