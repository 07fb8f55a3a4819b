"use client";
import { useQuery } from "@tanstack/react-query";
import { Badge, Loading, QueryError } from "~/components/ui/primitives";
import { useTRPC } from "~/trpc/react";
import { portLabels, portNames } from "../environments.schema";
import { EnvironmentsMatrix } from "./environments-matrix";

/** The environments in promotion order with each port's driver and live reachability. */
export function EnvironmentsOverview() {
  const trpc = useTRPC();
  const environments = useQuery(trpc.environments.list.queryOptions());
  const readiness = useQuery({ ...trpc.environments.readiness.queryOptions(), refetchInterval: 10_000 });

  if (environments.error) return <QueryError error={environments.error} />;
  if (!environments.data) return <Loading what="environments" />;

  return (
    <>
      <EnvironmentsMatrix />
      <section className="panel" aria-labelledby="drivers-heading">
        <div className="row" style={{ marginBottom: 8 }}>
          <h2 id="drivers-heading" style={{ margin: 0 }}>
            Systems behind each environment
          </h2>
          <span className="spacer" />
          {readiness.data && (
            <Badge tone={readiness.data.ready ? "ok" : "bad"}>{readiness.data.ready ? "all reachable" : "some unreachable"}</Badge>
          )}
        </div>
        <table className="data">
          <thead>
            <tr>
              <th scope="col">System</th>
              {environments.data.map((e) => (
                <th scope="col" key={e.name}>
                  {e.label}
                  {e.position > 0 && <span className="muted"> ← {environments.data[e.position - 1]!.label}</span>}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {portNames.map((port) => (
              <tr key={port}>
                <th scope="row">{portLabels[port]}</th>
                {environments.data.map((e) => {
                  const probe = readiness.data?.environments[e.name]?.[port];
                  return (
                    <td key={e.name} data-testid={`port-${e.name}-${port}`}>
                      <div className="row">
                        <Badge>{e.drivers[port]!.driver}</Badge>
                        {probe ? <Badge tone={probe.ok ? "ok" : "bad"}>{probe.ok ? "reachable" : "unreachable"}</Badge> : <span className="muted">checking…</span>}
                      </div>
                      <div className="mono muted" style={{ wordBreak: "break-all", marginTop: 4 }}>
                        {e.drivers[port]!.endpoint}
                      </div>
                      {probe && <div style={{ marginTop: 2, color: probe.ok ? "var(--ink-2)" : "var(--bad)" }}>{probe.detail}</div>}
                    </td>
                  );
                })}
              </tr>
            ))}
            <tr>
              <th scope="row">Policy</th>
              {environments.data.map((e) => (
                <td key={e.name}>
                  {e.policy.approvals} approval{e.policy.approvals === 1 ? "" : "s"}
                  {e.policy.soakMinutes > 0 && `, soak ${e.policy.soakMinutes} min`}
                </td>
              ))}
            </tr>
          </tbody>
        </table>
      </section>
    </>
  );
}
