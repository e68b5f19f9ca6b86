/**
 * Under `npx agentchat …` the CLI runs as npm → `sh -c` → node. SIGTERM to npm is
 * passed to the shell only, and dash (Debian's sh) dies without passing it on and
 * without having exec'd its one command: the CLI is left orphaned, still serving.
 * So a CLI started by npm that loses its parent sends itself SIGTERM, which
 * `serve` answers by closing the relay as usual.
 *
 * Only under npm (npm sets npm_lifecycle_event for scripts and npx): a relay put in
 * the background on purpose (nohup, setsid, a daemonizing shell) must keep running.
 */

/** How often the parent is checked: one getppid() call, so the cost is nil. */
export const PARENT_CHECK_MS = 500;

/** Start watching; returns a function that stops it. */
export function stopWhenNpmParentExits(env: NodeJS.ProcessEnv = process.env, intervalMs = PARENT_CHECK_MS): () => void {
  if (env.npm_lifecycle_event === undefined) return () => {};
  const parent = process.ppid;
  const timer = setInterval(() => {
    // Reparented (to init or a subreaper): whoever started us is gone.
    if (process.ppid === parent) return;
    clearInterval(timer);
    process.kill(process.pid, 'SIGTERM');
  }, intervalMs);
  timer.unref(); // never what keeps a finished command alive
  return () => clearInterval(timer);
}
