import { badRequest } from "./status";

/**
 * Label and field selectors with the grammar of k8s.io/apimachinery/pkg/labels/selector.go
 * (`a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`) and pkg/fields/selector.go
 * (`path=value`, `path==value`, `path!=value`).
 */

type Labels = Record<string, string> | undefined;
export type Matcher = (obj: Record<string, unknown>) => boolean;

/** Splits on commas outside parentheses: `a in (x,y),b` -> [`a in (x,y)`, `b`]. */
function requirements(selector: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      out.push(current.trim());
      current = "";
    } else current += ch;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

export function parseLabelSelector(selector: string | null): Matcher {
  if (!selector) return () => true;
  const tests = requirements(selector).map((req): ((labels: Labels) => boolean) => {
    let m = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(req);
    if (m) {
      const [, key, op, list] = m as unknown as [string, string, string, string];
      const values = list.split(",").map((v) => v.trim());
      return op === "in" ? (l) => l?.[key] !== undefined && values.includes(l[key]!) : (l) => l?.[key] === undefined || !values.includes(l[key]!);
    }
    m = /^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/.exec(req);
    if (m) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      return op === "!=" ? (l) => l?.[key] !== value : (l) => l?.[key] === value;
    }
    m = /^(!?)([\w./-]+)$/.exec(req);
    if (m) {
      const [, not, key] = m as unknown as [string, string, string];
      return not ? (l) => l?.[key] === undefined : (l) => l?.[key] !== undefined;
    }
    throw badRequest(`unable to parse requirement: found '${req}', expected: identifier`);
  });
  return (obj) => {
    const labels = (obj.metadata as { labels?: Record<string, string> } | undefined)?.labels;
    return tests.every((t) => t(labels));
  };
}

function fieldValue(obj: Record<string, unknown>, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split(".")) cur = (cur as Record<string, unknown> | undefined)?.[part];
  return cur === undefined || cur === null ? "" : String(cur);
}

export function parseFieldSelector(selector: string | null, supported: string[]): Matcher {
  if (!selector) return () => true;
  const tests = requirements(selector).map((req) => {
    const m = /^([\w.]+)\s*(==|=|!=)\s*(.*)$/.exec(req);
    if (!m) throw badRequest(`invalid selector: '${selector}'; can't understand '${req}'`);
    const [, field, op, value] = m as unknown as [string, string, string, string];
    if (!["metadata.name", "metadata.namespace", ...supported].includes(field)) throw badRequest(`field label not supported: ${field}`);
    return (obj: Record<string, unknown>) => (op === "!=" ? fieldValue(obj, field) !== value : fieldValue(obj, field) === value);
  });
  return (obj) => tests.every((t) => t(obj));
}
