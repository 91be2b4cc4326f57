/**
 * Which stack config keys the engine holds as secrets. The Node.js SDK answers this only through
 * `pulumi.runtime.isConfigSecret`, which it marks internal; its source is the language host's
 * `PULUMI_CONFIG_SECRET_KEYS` (a JSON array of full keys such as `haproxy-edge:acmeTsigSecret`), read here when
 * the SDK function is gone. Without either, no key counts as secret: the checks that a secret setting is
 * encrypted then fail with a message, never pass by guessing.
 */

/**
 * The full keys among `fullKeys` that are secret.
 * @param isConfigSecret the SDK's `pulumi.runtime.isConfigSecret`, when it has one
 * @param envSecretKeys the value of `PULUMI_CONFIG_SECRET_KEYS`, when set
 */
export function secretConfigKeys(
  fullKeys: readonly string[],
  isConfigSecret: ((key: string) => boolean) | undefined,
  envSecretKeys: string | undefined,
): Set<string> {
  if (isConfigSecret) return new Set(fullKeys.filter((k) => isConfigSecret(k)));
  let listed: unknown = [];
  try {
    listed = envSecretKeys ? JSON.parse(envSecretKeys) : [];
  } catch {
    listed = [];
  }
  const secret = new Set(
    Array.isArray(listed) ? listed.filter((k): k is string => typeof k === "string") : [],
  );
  return new Set(fullKeys.filter((k) => secret.has(k)));
}
