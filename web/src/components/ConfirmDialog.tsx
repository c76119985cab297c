import { useEffect, useRef, type ReactNode } from 'react';

/** A modal confirmation (native <dialog>: focus trapped, Escape cancels, focus returns to the opener). */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onCancel={(e) => { e.preventDefault(); props.onCancel(); }}>
      <h2 id="confirm-title">{props.title}</h2>
      <div>{props.children}</div>
      <div className="row">
        <button type="button" onClick={props.onCancel} autoFocus>Cancel</button>
        <button type="button" className={props.danger ? 'danger solid' : 'primary'} onClick={props.onConfirm}>{props.confirmLabel}</button>
      </div>
    </dialog>
  );
}
