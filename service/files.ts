/** Files a service is deployed with, whatever its placement. */
import type * as pulumi from "@pulumi/pulumi";
import type { RenderedFile } from "../render/template";

/** A rendered file whose content may still be an Output (e.g. depends on a generated password). */
export type UploadFile = Omit<RenderedFile, "content"> & { content: pulumi.Input<string> };
