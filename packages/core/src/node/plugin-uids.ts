// The uids CoreService hands to plugins it runs as root, shared by everything on a host that runs
// plugins (CoreService, `hub verify`'s contained smoke install): one registry per host, so no two
// plugins ever get one uid, whichever plugins dir or process gave it.

/** systemd's DynamicUser range, which no distribution allocates. */
export const PLUGIN_UID_MIN = 61184;
export const PLUGIN_UID_MAX = 65519;

/** The host's registry of claimed plugin uids (`MAGELLON_UID_REGISTRY` overrides); its lock is `<dir>.lock`. */
export const pluginUidRegistry = (): string => process.env.MAGELLON_UID_REGISTRY || '/var/lib/magellon/uids';
