import "server-only";
import type { EnvironmentPorts } from "~/server/ports";

export interface IndexOverview {
  environment: string;
  reachable: boolean;
  detail: string;
  products: { product: string; datasets: number }[];
}

/** Per environment: is its ODC index reachable, and how many datasets each product holds. */
export async function indexOverview(ports: Map<string, EnvironmentPorts>): Promise<IndexOverview[]> {
  return Promise.all(
    [...ports].map(async ([environment, p]) => {
      try {
        const detail = await p.index.check();
        return { environment, reachable: true, detail, products: await p.index.productCounts() };
      } catch (err) {
        return { environment, reachable: false, detail: (err as Error).message, products: [] };
      }
    }),
  );
}
