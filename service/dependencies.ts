/**
 * Helpers for resource options shared by the components.
 */
import * as pulumi from "@pulumi/pulumi";

type DependsOn = pulumi.ComponentResourceOptions["dependsOn"];

/**
 * `opts.dependsOn` of a component (in any of its shapes) plus local dependencies. Components must pass this to
 * their children: Pulumi does not forward a component's `dependsOn` to them by itself.
 */
export function mergeDeps(inherited: DependsOn, local: pulumi.Resource[]): NonNullable<DependsOn> {
  if (inherited === undefined) return local;
  const join = (d: unknown): pulumi.Resource[] => [
    ...((Array.isArray(d) ? d : [d]) as pulumi.Resource[]),
    ...local,
  ];
  if (Array.isArray(inherited)) return [...(inherited as pulumi.Input<pulumi.Resource>[]), ...local];
  if (pulumi.Resource.isInstance(inherited)) return [inherited, ...local];
  if (pulumi.Output.isInstance(inherited)) return (inherited as pulumi.Output<unknown>).apply(join);
  return Promise.resolve(inherited as unknown).then(join) as Promise<
    pulumi.Resource[]
  > as NonNullable<DependsOn>;
}
