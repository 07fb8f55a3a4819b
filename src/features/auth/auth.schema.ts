import { z } from "zod";
import { roles } from "~/lib/roles";

export const setRoleInput = z.object({ userId: z.string().min(1), role: z.enum(roles) });
export type SetRoleInput = z.infer<typeof setRoleInput>;
