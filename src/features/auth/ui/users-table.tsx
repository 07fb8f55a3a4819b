"use client";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Loading, QueryError } from "~/components/ui/primitives";
import { roles, type Role } from "~/lib/roles";
import { useTRPC } from "~/trpc/react";

/** Admin: every user with a role picker; each change is audited. */
export function UsersTable() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const users = useQuery(trpc.auth.users.queryOptions());
  const setRole = useMutation(
    trpc.auth.setRole.mutationOptions({ onSuccess: () => queryClient.invalidateQueries({ queryKey: trpc.auth.users.queryKey() }) }),
  );
  if (users.error) return <QueryError error={users.error} />;
  if (!users.data) return <Loading what="users" />;
  return (
    <section className="panel">
      {setRole.error && <QueryError error={setRole.error} />}
      <table className="data" aria-label="Users">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">E-mail</th>
            <th scope="col">Role</th>
            <th scope="col">Since</th>
          </tr>
        </thead>
        <tbody>
          {users.data.map((u) => (
            <tr key={u.id}>
              <td>{u.name}</td>
              <td>{u.email}</td>
              <td>
                <select
                  aria-label={`Role of ${u.email}`}
                  value={u.role}
                  disabled={setRole.isPending}
                  onChange={(e) => setRole.mutate({ userId: u.id, role: e.target.value as Role })}
                >
                  {roles.map((r) => (
                    <option key={r}>{r}</option>
                  ))}
                </select>
              </td>
              <td>{u.createdAt.toLocaleDateString()}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
