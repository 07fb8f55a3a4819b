/** A unified diff of an overlay, coloured by line. */
export function OverlayDiff({ diff }: { diff: string }) {
  if (!diff.trim()) return <p className="muted">No change to the overlay.</p>;
  return (
    <pre className="diff" aria-label="Overlay diff">
      {diff.split("\n").map((line, i) => {
        const cls = line.startsWith("@@") ? "hunk" : line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : undefined;
        return (
          <span key={i} className={cls}>
            {line}
            {"\n"}
          </span>
        );
      })}
    </pre>
  );
}
