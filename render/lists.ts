/**
 * The text of a list file HAProxy loads with `-f` (one CIDR per line). A pure function with no imports: the load
 * balancer's provider (docker/lb-live.ts) runs it too, to write a list for the next start after swapping its
 * entries at run time, so both write the same bytes.
 */
export function cidrListText(title: string, cidrs: readonly string[]): string {
  return `# ${title}. Rendered by Pulumi.\n${cidrs.map((c) => `${c}\n`).join("")}`;
}
