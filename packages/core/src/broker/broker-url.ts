// A broker URL (amqp://user:password@host:5672/vhost) as CoreService and hub test take it: what is
// one, how it may be shown (the password never is), and text scrubbed of its password.

/** What stands for a secret wherever one would be shown. */
export const MASKED_SECRET = '***';

/** Why a broker URL cannot be used, or undefined when it can (amqp:// or amqps://, a host). */
export function brokerUrlProblem(url: string): string | undefined {
  if (url.length > 2048 || !/^[\x21-\x7e]+$/.test(url)) return 'a broker URL is one printable line';
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return 'a broker URL looks like amqp://user:password@host:5672/';
  }
  if (u.protocol !== 'amqp:' && u.protocol !== 'amqps:')
    return 'a broker URL starts with amqp:// or amqps://';
  if (u.hostname === '') return 'a broker URL names a host';
  return undefined;
}

/** A broker URL as it may be shown: the password replaced by `***` (the user name is kept). */
export function shownBrokerUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = MASKED_SECRET;
    return u.toString();
  } catch {
    return '(a broker URL that cannot be parsed)';
  }
}

/** Text with the broker URL's password (raw and URL-encoded) replaced by `***`. */
export function scrubBrokerSecret(text: string, url: string): string {
  let password = '';
  try {
    password = new URL(url).password;
  } catch {
    return text.replaceAll(url, MASKED_SECRET);
  }
  if (password === '') return text;
  let out = text.replaceAll(url, shownBrokerUrl(url));
  for (const p of new Set([password, decodeURIComponent(password)])) out = out.replaceAll(p, MASKED_SECRET);
  return out;
}
