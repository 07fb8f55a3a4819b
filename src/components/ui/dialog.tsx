"use client";
import { useEffect, useRef, type ReactNode } from "react";

/** A modal dialog on the native <dialog> element (focus trap, Escape, backdrop for free). */
export function Dialog({ open, title, onClose, children, wide }: { open: boolean; title: string; onClose: () => void; children: ReactNode; wide?: boolean }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  return (
    <dialog ref={ref} className={`dialog${wide ? " wide" : ""}`} aria-labelledby="dialog-title" onClose={onClose} onCancel={onClose}>
      {open && (
        <>
          <div className="row" style={{ marginBottom: 12 }}>
            <h2 id="dialog-title" style={{ margin: 0 }}>
              {title}
            </h2>
            <span className="spacer" />
            <button type="button" className="btn" aria-label="Close" onClick={onClose}>
              ×
            </button>
          </div>
          {children}
        </>
      )}
    </dialog>
  );
}
