// CSI's rule at the agent layer: repeating a finished operation is success.
// Backends keep Flocker's typed errors on repeats (the contract suite checks
// both); the executor calls the control plane through this wrapper:
// - destroy of an unknown volume: done (it is gone);
// - detach of a volume not attached, or unknown: done (it is attached nowhere);
// - attach of a volume already attached to THIS node: done, the volume as
//   listed (attached elsewhere stays an error naming that node);
// - resize to the size it already has: done (backends already do this).
// Everything else passes through unchanged.
import { BackendError, isBackendError, type ControlPlane } from './types.js';

export function idempotent(control: ControlPlane): ControlPlane {
  const c = control;
  return {
    spec: c.spec,
    // Optional methods are forwarded only where the backend has them (a class's
    // methods live on its prototype, so they are called, never copied).
    snapshot: c.snapshot && ((id, name) => c.snapshot!(id, name)),
    removeSnapshot: c.removeSnapshot && ((id, sid) => c.removeSnapshot!(id, sid)),
    restoreSnapshot: c.restoreSnapshot && ((id, sid) => c.restoreSnapshot!(id, sid)),
    liveNodes: c.liveNodes && (() => c.liveNodes!()),
    close: c.close && (() => c.close!()),
    limits: () => control.limits(),
    list: () => control.list(),
    create: (req) => control.create(req),
    resize: (id, size) => control.resize(id, size),
    setMetadata: (id, md) => control.setMetadata(id, md),
    async destroy(id) {
      try {
        await control.destroy(id);
      } catch (e) {
        if (!isBackendError(e, 'unknown-volume')) throw e;
      }
    },
    async detach(id) {
      try {
        await control.detach(id);
      } catch (e) {
        if (!isBackendError(e, 'not-attached') && !isBackendError(e, 'unknown-volume')) throw e;
      }
    },
    async attach(id, node) {
      try {
        return await control.attach(id, node);
      } catch (e) {
        if (!isBackendError(e, 'already-attached') || e.node !== node) throw e;
        // Already here: answer with the volume as the backend lists it; an
        // eventually consistent listing that does not show it yet is a retry.
        const v = (await control.list()).find((x) => x.id === id);
        if (v && v.attached === node) return v;
        throw new BackendError('unavailable', `volume '${id}' is attached to '${node}' but not listed so yet`, id, node);
      }
    },
  };
}
