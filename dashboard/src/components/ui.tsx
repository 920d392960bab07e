/** Small shared pieces: sections, stat cards, badges, error boxes and a confirm dialog. */
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";

export function Section(props: { title: string; testid?: string; aside?: ComponentChildren; children: ComponentChildren }) {
  return (
    <section class="card section" data-testid={props.testid}>
      <div class="section-head">
        <h2>{props.title}</h2>
        {props.aside}
      </div>
      {props.children}
    </section>
  );
}

export function Card(props: { label: string; value: string; raw?: number; hint?: string | undefined; testid?: string }) {
  return (
    <div class="stat" data-testid={props.testid} data-value={props.raw}>
      <div class="stat-label">{props.label}</div>
      <div class="stat-value">{props.value}</div>
      {props.hint !== undefined && <div class="stat-hint">{props.hint}</div>}
    </div>
  );
}

export type Tone = "ok" | "warn" | "bad" | "neutral";

export function Badge(props: { tone: Tone; children: ComponentChildren; testid?: string }) {
  return (
    <span class={`badge ${props.tone}`} data-testid={props.testid}>
      {props.children}
    </span>
  );
}

export function ErrorBox(props: { message: string; testid?: string }) {
  return (
    <div class="error-box" role="alert" data-testid={props.testid}>
      {props.message}
    </div>
  );
}

/** A modal question with two buttons; Escape or the backdrop cancels. */
export function Confirm(props: {
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const cancelRef = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    cancelRef.current?.focus();
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === "Escape") props.onCancel();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  return (
    <div class="backdrop" onClick={(e) => e.target === e.currentTarget && props.onCancel()}>
      <div class="card dialog" role="dialog" aria-modal="true" aria-label={props.title} data-testid="confirm-dialog">
        <h2>{props.title}</h2>
        <div class="dialog-body">{props.children}</div>
        <div class="row end">
          <button type="button" class="button" ref={cancelRef} onClick={props.onCancel} data-testid="confirm-cancel">
            Cancel
          </button>
          <button
            type="button"
            class={`button ${props.danger === true ? "danger" : "primary"}`}
            disabled={props.busy === true}
            onClick={props.onConfirm}
            data-testid="confirm-ok"
          >
            {props.confirmLabel}
          </button>
        </div>
      </div>
    </div>
  );
}

/** Busy sequences of a model against its capacity, and its queue. */
export function LoadBar(props: { id?: string; active: number; waiting: number; capacity: number }) {
  const pct = props.capacity > 0 ? Math.min(100, (props.active / props.capacity) * 100) : 0;
  return (
    <div class="load" data-testid={props.id === undefined ? undefined : `load-${props.id}`}>
      {props.id !== undefined && <span class="load-id">{props.id}</span>}
      <span class="load-track" title={`${props.active} of ${props.capacity} sequences busy`}>
        <span class="load-fill" style={{ width: `${pct}%` }} />
      </span>
      <span class="load-text">
        {props.active}/{props.capacity} active{props.waiting > 0 ? ` · ${props.waiting} waiting` : ""}
      </span>
    </div>
  );
}
