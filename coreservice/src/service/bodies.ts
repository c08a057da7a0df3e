// The JSON bodies the admin service's routes take: one zod schema each, the types inferred from
// them. A body that does not fit is refused (400 bad-request) with a message naming the field; keys
// a schema does not name are ignored. How big a body may be and how it is read are app.ts's.
import { z } from 'zod';
import { InstallError } from '../errors';

/** An absent, null or empty value is "not given". */
const blankToUndefined = (v: unknown) => (v === null || v === '' ? undefined : v);

/** A text field that may be left out (absent, null or ""). */
const optionalText = (key: string) =>
  z.preprocess(blankToUndefined, z.string({ error: `${key} must be a string` }).optional());

/** A text field that must be given; `missing` says what to do when it is not. */
const requiredText = (key: string, missing = `${key} is required`) =>
  z.preprocess(
    blankToUndefined,
    z.string({ error: (iss) => (iss.input === undefined ? missing : `${key} must be a string`) }),
  );

/** POST /admin/plugins/install-from-hub. */
export const installFromHubBody = z.object({
  plugin_id: requiredText('plugin_id'),
  /** One of the configured registries (never a new one). */
  hub_url: optionalText('hub_url'),
  version: optionalText('version'),
  install_method: optionalText('install_method'),
});
export type InstallFromHubBody = z.infer<typeof installFromHubBody>;

/** POST /admin/plugins/:id/upgrade-from-hub. */
export const upgradeFromHubBody = z.object({
  version: optionalText('version'),
  force_downgrade: z.boolean({ error: 'force_downgrade must be true or false' }).optional(),
});
export type UpgradeFromHubBody = z.infer<typeof upgradeFromHubBody>;

/** POST /admin/plugins/:id/scale (the range is the manifest's, checked by the lifecycle). */
export const scaleBody = z.object({
  desired: z.number({ error: 'desired must be a number of replicas' }),
});
export type ScaleBody = z.infer<typeof scaleBody>;

/** PUT /admin/categories/:slug/default. */
export const categoryDefaultBody = z.object({
  plugin_id: requiredText('plugin_id', 'plugin_id is required (DELETE unpins the default)'),
});
export type CategoryDefaultBody = z.infer<typeof categoryDefaultBody>;

/** `body` as `schema` says, or a bad-request naming the first field that does not fit. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = issue?.path.map(String).join('.');
  // The schemas' own messages name their field; one zod words itself gets the field put first.
  const message = issue?.message ?? 'the request body does not fit';
  throw new InstallError(
    'bad-request',
    field && !message.startsWith(field) ? `${field}: ${message}` : message,
  );
}
