/**
 * Once the faults are over, every honest replica that is up must soon be active in one view:
 * one left alone in a higher view votes in none and uses up a fault the cluster tolerates. With
 * reconfiguration, one view of one epoch, among the replicas still validators (one that left
 * votes in none by design).
 */
import type { SimNode, ViewState } from './node.ts';
import type { RunLoop } from './run-loop.ts';

/**
 * Runs on until the honest replicas that are up are active in one view, or `boundMs` after
 * `finishedAt`; at the bound, reports the views they are in as a violation.
 */
export async function awaitViewAgreement(
  loop: RunLoop,
  nodes: readonly SimNode[],
  honest: readonly number[],
  finishedAt: number,
  boundMs: number,
  violate: (message: string) => void,
): Promise<void> {
  const agreed = (): boolean => {
    const views = honest
      .map((replica) => nodes[replica]!.viewState())
      .filter((view): view is ViewState => view?.member === true);
    return views.every(
      (view) => view.active && view.view === views[0]!.view && view.epoch === views[0]!.epoch,
    );
  };
  const agreeBy = finishedAt + boundMs;
  let running = true;
  while (running && !agreed()) {
    // Reading every view costs a status per replica: look every few events.
    for (let i = 0; i < 16 && running; i++) running = await loop.step(agreeBy);
  }
  if (agreed()) return;
  violate(
    `view agreement: ${boundMs} ms after the run finished, honest replicas are in epoch/views ` +
      honest
        .map((replica) => {
          const view = nodes[replica]!.viewState();
          if (view === null) return 'down';
          if (!view.member) return `left in epoch ${view.epoch}`;
          return `${view.epoch}/${view.view}${view.active ? '' : '(changing)'}`;
        })
        .join(', '),
  );
}
