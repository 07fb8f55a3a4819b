import "server-only";

/**
 * Kubernetes label selectors for the local driver, which filters its pods itself: the grammar of
 * k8s.io/apimachinery/pkg/labels/selector.go Parse (`a=b`, `a==b`, `a!=b`, `a in (x,y)`,
 * `a notin (x,y)`, `a`, `!a`, requirements joined by commas, all must hold).
 */

type Test = (labels: Record<string, string>) => boolean;

/** Splits on commas outside parentheses. */
function split(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i++) {
    const ch = selector[i];
    if (ch === "(") depth++;
    else if (ch === ")") depth--;
    else if (ch === "," && depth === 0) {
      parts.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(selector.slice(start));
  return parts.map((p) => p.trim()).filter(Boolean);
}

const key = String.raw`[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?`;
const value = String.raw`([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
const setRe = new RegExp(`^(${key})\\s+(in|notin)\\s+\\(([^)]*)\\)$`);
const eqRe = new RegExp(`^(${key})\\s*(==|=|!=)\\s*(${value})$`);
const existsRe = new RegExp(`^(!?)\\s*(${key})$`);

function requirement(req: string): Test {
  let m = setRe.exec(req);
  if (m) {
    const [, k, , op, list] = m as unknown as [string, string, string, string, string];
    const values = list.split(",").map((v) => v.trim());
    return op === "in" ? (l) => k in l && values.includes(l[k]!) : (l) => !(k in l) || !values.includes(l[k]!);
  }
  m = eqRe.exec(req);
  if (m) {
    const [, k, , op, v] = m as unknown as [string, string, string, string, string];
    return op === "!=" ? (l) => l[k] !== v : (l) => l[k] === v;
  }
  m = existsRe.exec(req);
  if (m) {
    const [, not, k] = m as unknown as [string, string, string];
    return not ? (l) => !(k in l) : (l) => k in l;
  }
  throw new Error(`invalid label selector requirement "${req}" (expected key=value, key!=value, key in (a,b), key notin (a,b), key or !key)`);
}

/** Compiles a selector; throws on a malformed one, as the API server answers 400. */
export function labelSelector(selector: string | undefined): (labels: Record<string, string> | undefined) => boolean {
  if (!selector?.trim()) return () => true;
  const tests = split(selector).map(requirement);
  return (labels) => tests.every((t) => t(labels ?? {}));
}
