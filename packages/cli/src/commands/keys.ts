// `hub keys generate | rotate | sign`: the keys behind the hub's signed TUF metadata. The rules
// (key files, root versions, thresholds) are in hub-core's tuf.ts; this only parses options.
import {
  generateRoleKey,
  generateTufKeys,
  rotateRoleKey,
  rotateRootKeys,
  signingYaml,
  signMetadataFile,
  signPluginVersions,
  TUF_ONLINE_ROTATABLE,
  TufError,
  type TufRotatableRole,
} from '@magellon/hub-core/node';
import { green, printFindings, red, safe, yellow } from '../output';
import { EXIT, parseCommandArgs, UsageError } from '../usage';
import type { Command } from './command';

const count = (v: unknown, flag: string): number | undefined => {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || !/^[0-9]{1,2}$/.test(v))
    throw new UsageError(`hub keys: ${flag} takes a number`);
  return Number(v);
};

export const keysCommand: Command = {
  name: 'keys',
  help: `Usage: hub keys generate --dir <keys-dir> [--root-keys N] [--root-threshold M]
       hub keys generate --dir <keys-dir> --role hub
       hub keys generate --dir <dir> --author
       hub keys rotate --dir <keys-dir> --role root [--root-keys N] [--root-threshold M]
       hub keys rotate --dir <keys-dir> --role snapshot|timestamp|targets|hub
       hub keys sign <metadata.json> --key <key-file>
       hub keys sign-plugin <catalog-dir> <plugin-id> --key <author-key-file>

The keys that sign the hub's TUF metadata (hub build --tuf-keys; see docs/tuf.md).

  generate  makes <keys-dir> (mode 0700) with one ed25519 key per role (root,
            targets, snapshot, timestamp; N root keys, threshold M, default 1 of 1),
            each private key 0600 as <role>-<keyid>.key.json, and root/1.root.json
            signed by the root keys, and the online hub role's key. Refuses a
            dir that already holds keys. Keep the root and targets keys offline:
            hub build needs only snapshot, timestamp and hub (and targets when
            the delegations change).
            --role hub adds the hub key to a keys dir made without one.
            --author makes one plugin author key (author-<keyid>.key.json, 0600)
            and prints the signing: block to paste into the plugin's owners.yaml.
  rotate    --role root: writes root/<n+1>.root.json with new root keys, signed
            by the current root keys (their threshold, which must be in the dir)
            and the new ones, so clients holding root n follow it.
            --role snapshot|timestamp|targets: a new key for that role, named in
            root/<n+1>.root.json instead of the old one (signed by the current
            root keys, which must be in the dir).
            --role hub: a new hub key; the next build signs top-level targets
            again, which needs the targets key.
            The replaced key files move to <keys-dir>/retired/ (never deleted);
            it prints which keys the next build needs. Rebuild to publish.
  sign      adds a signature with one key to a metadata file, in place (offline
            signing, e.g. a root, or an author role, that needs more than one key).
  sign-plugin  (re)signs every version of a plugin in <catalog-dir> with an author
            key: plugins/<id>/signed-targets.json lists each archive (checked
            first) with its length and sha256; its version goes up by one.

Options:
  --dir <dir>            the keys dir
  --role <role>          what rotate rotates (root, snapshot, timestamp,
                         targets, hub), or generate adds (hub)
  --author               generate one plugin author key
  --root-keys <N>        number of root keys (generate: 1; rotate: as before)
  --root-threshold <M>   root signatures a client needs (default 1; rotate: as before)
  --root-expiry <days>   how long the new root is valid (default 365)
  --key <file>           the private key file sign and sign-plugin use
  --expiry <days>        how long sign-plugin's signature is valid (default 365)
  -h, --help             show this help

Exit codes: 0 done, 1 refused (existing keys, missing keys, bad metadata), 2 bad usage.`,
  async run(args) {
    const { values, positionals } = parseCommandArgs('keys', args, {
      dir: { type: 'string' },
      role: { type: 'string' },
      'root-keys': { type: 'string' },
      'root-threshold': { type: 'string' },
      key: { type: 'string' },
      'root-expiry': { type: 'string' },
      author: { type: 'boolean' },
      expiry: { type: 'string' },
    });
    if (values.help) {
      console.log(this.help);
      return EXIT.ok;
    }
    const [action, ...rest] = positionals;
    const expiry = values['root-expiry'];
    const a: KeysArgs = {
      rest,
      dir: values.dir,
      role: values.role,
      author: values.author,
      key: values.key,
      expiry: values.expiry,
      rootKeys: count(values['root-keys'], '--root-keys'),
      rootThreshold: count(values['root-threshold'], '--root-threshold'),
    };
    if (expiry !== undefined && !/^[1-9][0-9]{0,4}$/.test(expiry)) {
      throw new UsageError('hub keys: --root-expiry takes a whole number of days');
    }
    a.rootExpirySeconds = expiry === undefined ? undefined : Number(expiry) * 86400;
    try {
      switch (action) {
        case 'generate':
          return generateKeys(a);
        case 'rotate':
          return rotateKeys(a);
        case 'sign':
          return signFile(a);
        case 'sign-plugin':
          return await signPlugin(a);
        default:
          throw new UsageError(
            action === undefined
              ? 'hub keys needs an action: generate, rotate, sign or sign-plugin'
              : `hub keys: unknown action ${safe(action)} (generate, rotate, sign or sign-plugin)`,
          );
      }
    } catch (err) {
      if (err instanceof TufError) {
        console.error(red(`✖ ${err.code}: ${safe(err.message)}`));
        return EXIT.failed;
      }
      throw err;
    }
  },
};

/** What `hub keys` was given, the numbers checked: operands after the action, then the options. */
interface KeysArgs {
  rest: string[];
  dir?: string;
  role?: string;
  author?: boolean;
  key?: string;
  /** sign-plugin's --expiry, as given. */
  expiry?: string;
  rootKeys?: number;
  rootThreshold?: number;
  rootExpirySeconds?: number;
}

/** `hub keys generate`: a new keys dir, or (--role hub / --author) one more key. */
function generateKeys(a: KeysArgs): number {
  const { dir, rootKeys, rootThreshold, rootExpirySeconds } = a;
  if (!dir || a.rest.length > 0)
    throw new UsageError('hub keys generate takes --dir <keys-dir> and no operands');
  if (a.author || a.role !== undefined) {
    if (a.author && a.role !== undefined)
      throw new UsageError('hub keys generate: --author and --role are exclusive');
    if (!a.author && a.role !== 'hub')
      throw new UsageError('hub keys generate: --role hub is the one role it adds');
    const { key, file } = generateRoleKey(dir, a.author ? 'author' : 'hub');
    console.log(green(`✔ made ${a.author ? 'an author' : 'the hub'} key ${safe(file)} (${key.keyid})`));
    if (a.author) {
      console.log("  add this block to your plugin's owners.yaml (keep the key file private):");
      console.log(signingYaml([{ keyid: key.keyid, public: key.keyval.public }]));
    }
    return EXIT.ok;
  }
  const made = generateTufKeys(dir, { rootKeys, rootThreshold, rootExpirySeconds });
  console.log(green(`✔ made TUF keys in ${safe(dir)}/ and ${safe(made.root)}`));
  for (const [role, ids] of Object.entries(made.keyIds)) console.log(`  ${role.padEnd(9)} ${ids.join(' ')}`);
  return EXIT.ok;
}

/** `hub keys rotate`: new root keys (--role root), or a new key for one online role. */
function rotateKeys(a: KeysArgs): number {
  const { dir, role, rootKeys, rootThreshold, rootExpirySeconds } = a;
  if (!dir || a.rest.length > 0)
    throw new UsageError('hub keys rotate takes --dir <keys-dir> and no operands');
  if (role !== 'root') return rotateOnlineKey(a, dir, role);
  const r = rotateRootKeys(dir, { rootKeys, rootThreshold, rootExpirySeconds });
  console.log(green(`✔ root version ${r.version} written to ${safe(r.root)}`));
  console.log(`  new root keys: ${r.keyIds.join(' ')}`);
  console.log('  the old root key files stay in the dir: move them offline or delete them');
  return EXIT.ok;
}

/** `hub keys rotate --role snapshot|timestamp|targets|hub`: the new key, what it replaced, what to do next. */
function rotateOnlineKey(a: KeysArgs, dir: string, role: string | undefined): number {
  const { rootExpirySeconds } = a;
  if (!(TUF_ONLINE_ROTATABLE as readonly (string | undefined)[]).includes(role))
    throw new UsageError('hub keys rotate: --role takes root, snapshot, timestamp, targets or hub');
  if (a.rootKeys !== undefined || a.rootThreshold !== undefined)
    throw new UsageError('hub keys rotate: --root-keys and --root-threshold go with --role root');
  if (role === 'hub' && rootExpirySeconds !== undefined)
    throw new UsageError('hub keys rotate --role hub writes no root: --root-expiry does not apply');
  const r = rotateRoleKey(dir, role as TufRotatableRole, { rootExpirySeconds });
  console.log(green(`✔ new ${r.role} key ${safe(r.file)} (${r.keyId})`));
  if (r.root)
    console.log(
      `  root version ${r.root.version} written to ${safe(r.root.path)}, naming it instead of ${r.oldKeyIds.join(' ')}`,
    );
  else
    console.log(
      `  replaces ${r.oldKeyIds.join(' ') || 'no hub key'} in the hub delegation of the next top-level targets`,
    );
  for (const f of r.retired)
    console.log(`  retired ${safe(f)} (no build reads it; keep or destroy it offline)`);
  if (r.retired.length < r.oldKeyIds.length)
    console.log(yellow('! an old key file was not in the dir: retire it wherever it is kept'));
  console.log('Next:');
  for (const step of r.next) console.log(`  - ${safe(step)}`);
  return EXIT.ok;
}

/** `hub keys sign`: one more signature on a metadata file, in place. */
function signFile(a: KeysArgs): number {
  const { key, rest } = a;
  if (rest.length !== 1 || !key)
    throw new UsageError('hub keys sign takes one metadata file and --key <file>');
  const s = signMetadataFile(rest[0]!, key);
  console.log(green(`✔ signed ${safe(rest[0]!)} (${s.role}) with key ${s.keyId}`));
  return EXIT.ok;
}

/** `hub keys sign-plugin`: every version of a plugin signed with an author key. */
async function signPlugin(a: KeysArgs): Promise<number> {
  const { key, rest, expiry: days } = a;
  if (rest.length !== 2 || !key)
    throw new UsageError('hub keys sign-plugin takes <catalog-dir> <plugin-id> and --key <file>');
  if (days !== undefined && !/^[1-9][0-9]{0,4}$/.test(days))
    throw new UsageError('hub keys sign-plugin: --expiry takes a whole number of days');
  const r = await signPluginVersions(rest[0]!, rest[1]!, key, {
    expirySeconds: days === undefined ? undefined : Number(days) * 86400,
  });
  if (!r.ok) {
    printFindings(r.findings, 'text');
    console.error(red('✖ not signed: the archives fail their checks (see above)'));
    return EXIT.failed;
  }
  console.log(
    green(
      `✔ signed ${r.signed.targets.length} archive(s) of ${safe(rest[1]!)} into ${safe(r.signed.file)} (version ${r.signed.version})`,
    ),
  );
  if (r.signed.remote.length > 0)
    console.log(
      yellow(
        `! versions at https URLs signed as their entries say, not downloaded: ${r.signed.remote.map(safe).join(', ')}`,
      ),
    );
  return EXIT.ok;
}
