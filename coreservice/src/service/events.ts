// The service's event bus: install progress, lifecycle changes and supervisor restarts, fanned out
// to every SSE listener. A slow or gone listener never blocks an operation.
export type ServiceEvent = { type: string; plugin_id?: string | null } & Record<string, unknown>;

export class EventBus {
  private readonly listeners = new Set<(e: ServiceEvent) => void>();

  on(fn: (e: ServiceEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  emit(e: ServiceEvent): void {
    const stamped = { ...e, at: new Date().toISOString() };
    for (const fn of this.listeners) {
      try {
        fn(stamped);
      } catch {
        // a listener that throws is its own problem: the others and the operation go on
      }
    }
  }
}
