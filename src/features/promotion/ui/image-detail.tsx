"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { Badge, EmptyState, Loading, QueryError } from "~/components/ui/primitives";
import { Ago, Digest } from "~/components/ui/time";
import { hasRole, type Role } from "~/lib/roles";
import { useTRPC } from "~/trpc/react";
import { OverlayDiff } from "./overlay-diff";

/** One digest: its labels, every place it has been, its validations, and what promoting it to prod changes. */
export function ImageDetail({ digest, imageName }: { digest: string; imageName: string }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const me = useQuery(trpc.auth.me.queryOptions());
  const image = useQuery({ ...trpc.promotion.image.queryOptions({ digest, imageName }), refetchInterval: 10_000 });
  const [env, setEnv] = useState("");
  const [name, setName] = useState("sign-off");
  const [note, setNote] = useState("");
  const record = useMutation(
    trpc.promotion.recordValidation.mutationOptions({
      onSuccess: () => {
        setNote("");
        void queryClient.invalidateQueries({ queryKey: trpc.promotion.image.queryKey() });
      },
    }),
  );
  if (image.error) return <QueryError error={image.error} />;
  if (!image.data) return <Loading what="the image" />;
  const d = image.data;
  const labels = Object.entries(d.info?.labels ?? {});
  return (
    <>
      <section className="panel" aria-labelledby="labels-heading">
        <h2 id="labels-heading">
          {d.repository}@<Digest digest={d.digest} />
        </h2>
        {!d.info && <div className="alert bad">The registry does not know this digest.</div>}
        <table className="data" aria-label="OCI labels">
          <tbody>
            <tr>
              <th scope="row">Source revision</th>
              <td className="mono">{d.info?.revision ?? "—"}</td>
            </tr>
            <tr>
              <th scope="row">Created</th>
              <td>{d.info?.created ? <Ago at={d.info.created} /> : "—"}</td>
            </tr>
            <tr>
              <th scope="row">Source</th>
              <td className="mono">{d.info?.source ?? "—"}</td>
            </tr>
            {labels
              .filter(([k]) => !/org\.opencontainers\.image\.(revision|created|source)$/.test(k))
              .map(([k, v]) => (
                <tr key={k}>
                  <th scope="row" className="mono">
                    {k}
                  </th>
                  <td className="mono">{v}</td>
                </tr>
              ))}
          </tbody>
        </table>
      </section>
      <section className="panel" aria-labelledby="places-heading">
        <h2 id="places-heading">Where it has been</h2>
        <table className="data" aria-label="History per environment">
          <thead>
            <tr>
              <th scope="col">Environment</th>
              <th scope="col">Now</th>
              <th scope="col">Deployed</th>
              <th scope="col">Commits that set it</th>
            </tr>
          </thead>
          <tbody>
            {d.environments.map((e) => (
              <tr key={e.name}>
                <td>{e.label}</td>
                <td>{e.current ? <Badge tone="ok">desired here</Badge> : <span className="muted">not desired</span>}</td>
                <td>
                  {e.deployedFrom ? (
                    <>
                      from <Ago at={e.deployedFrom} />, last seen <Ago at={e.deployedUntil} />
                    </>
                  ) : (
                    <span className="muted">never seen deployed</span>
                  )}
                </td>
                <td>
                  {e.commits.length === 0 && <span className="muted">—</span>}
                  {e.commits.map((c) => (
                    <div key={c.commit}>
                      <code>{c.commit.slice(0, 7)}</code> {c.subject} <Ago at={c.at} />
                    </div>
                  ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section className="panel" aria-labelledby="validations-heading">
        <h2 id="validations-heading">Validations</h2>
        {d.validations.length === 0 ? (
          <p className="muted">No validation recorded for this digest.</p>
        ) : (
          <table className="data" aria-label="Validations">
            <tbody>
              {d.validations.map((v) => (
                <tr key={v.id}>
                  <td>{v.environment}</td>
                  <td>{v.name}</td>
                  <td>
                    <Badge tone={v.passed ? "ok" : "bad"}>{v.passed ? "passed" : "failed"}</Badge>
                  </td>
                  <td>{v.source}</td>
                  <td>{v.recordedBy}</td>
                  <td>{v.note}</td>
                  <td>
                    <Ago at={v.at} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {hasRole(me.data?.role as Role | undefined, "approver") && (
          <form
            className="filters"
            style={{ marginTop: 12 }}
            onSubmit={(e) => {
              e.preventDefault();
              record.mutate({ environment: env || d.environments[0]!.name, digest: d.digest, name, passed: true, note });
            }}
          >
            <div>
              <label htmlFor="val-env">Environment</label>
              <select id="val-env" value={env} onChange={(e) => setEnv(e.target.value)}>
                {d.environments.map((e) => (
                  <option key={e.name} value={e.name}>
                    {e.label}
                  </option>
                ))}
              </select>
            </div>
            <div>
              <label htmlFor="val-name">Validation</label>
              <input id="val-name" value={name} onChange={(e) => setName(e.target.value)} />
            </div>
            <div style={{ flex: 1 }}>
              <label htmlFor="val-note">What you checked</label>
              <input id="val-note" style={{ width: "100%" }} value={note} onChange={(e) => setNote(e.target.value)} />
            </div>
            <button type="submit" className="btn" disabled={record.isPending || note.trim().length < 3}>
              Sign off
            </button>
            {record.error && <QueryError error={record.error} />}
          </form>
        )}
      </section>
      <section className="panel" aria-labelledby="changes-heading">
        <h2 id="changes-heading">What changes if promoted to {d.promoteTo}</h2>
        {d.changes.length === 0 && !d.diff ? (
          <EmptyState title="Nothing to show">
            <p>This digest is what {d.promoteTo} desires already, or the registry holds no release between the two.</p>
          </EmptyState>
        ) : (
          <>
            <table className="data" aria-label="Releases between prod and this image">
              <thead>
                <tr>
                  <th scope="col">Tag</th>
                  <th scope="col">Source revision</th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {d.changes.map((c) => (
                  <tr key={c.digest}>
                    <td>{c.tag}</td>
                    <td className="mono">{c.revision ?? "—"}</td>
                    <td>
                      <Ago at={c.created} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <OverlayDiff diff={d.diff} />
          </>
        )}
      </section>
    </>
  );
}
