import "server-only";
import type { PikselConfig } from "~/server/config";
import type { EnvironmentPorts } from "~/server/ports";

export interface GitopsOverview {
  environment: string;
  overlayPath: string;
  branch: string;
  head: string | null;
  tags: number | null;
  problem: string | null;
}

/** Per environment: the GitOps branch head that holds its overlay and the images in its registry. */
export async function gitopsOverview(config: PikselConfig, ports: Map<string, EnvironmentPorts>): Promise<GitopsOverview[]> {
  return Promise.all(
    config.environments.map(async (env) => {
      const p = ports.get(env.name)!;
      const problems: string[] = [];
      const head = await p.gitops.headCommit().catch((err: Error) => (problems.push(err.message), undefined));
      const tags = await p.registry.listTags().catch((err: Error) => (problems.push(err.message), undefined));
      return {
        environment: env.name,
        overlayPath: env.gitops.overlayPath,
        branch: env.gitops.branch,
        head: head ?? null,
        tags: tags?.length ?? null,
        problem: problems.length ? problems.join("; ") : null,
      };
    }),
  );
}
