/** The roles of DESIGN.md section 2, weakest first; each may do what the ones before it may. */
export const roles = ["viewer", "requester", "approver", "admin"] as const;
export type Role = (typeof roles)[number];

/** True when `role` grants at least what `needed` grants. */
export function hasRole(role: Role | null | undefined, needed: Role): boolean {
  if (!role) return false;
  return roles.indexOf(role) >= roles.indexOf(needed);
}

/** The highest role among the groups of an OIDC user, through the configured group -> role map. */
export function roleFromGroups(groups: unknown, roleMap: Record<string, Role>): Role {
  const list = Array.isArray(groups) ? groups.map(String) : typeof groups === "string" ? groups.split(/[,\s]+/) : [];
  let best: Role = "viewer";
  for (const g of list) {
    const r = roleMap[g];
    if (r && hasRole(r, best)) best = r;
  }
  return best;
}
